"""The names ``storyrec rebuild`` derives for the new group: valid, deterministic, never stacked, and the
settings it writes are exactly what the functions would read (shared/operate/switch.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import Settings
from shared.limits import RESOURCE_NAME_MAX_CHARS, VALID_RESOURCE_NAME
from shared.operate.bootstrap import DEFAULT_CONFIG, load_config, parse_config
from shared.operate.switch import Names, config_json, derive, new_names, switched_config, switched_settings
from shared.personalize.names import second_slot
from shared.recommend.campaign import feed_filter_spec

pytestmark = pytest.mark.unit

NAME = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}", fullmatch=True)


@given(name=NAME, old=NAME, new=NAME)
def test_a_derived_name_is_valid_and_deterministic(name: str, old: str, new: str) -> None:
    derived = derive(name, old, new)
    assert VALID_RESOURCE_NAME.fullmatch(derived) and len(derived) <= RESOURCE_NAME_MAX_CHARS
    assert derive(name, old, new) == derived


@given(name=st.from_regex(r"[a-z]{1,20}", fullmatch=True), n=st.integers(2, 9))
def test_rebuild_after_rebuild_replaces_the_suffix_instead_of_stacking_it(name: str, n: int) -> None:
    first = derive(name, "storyrec", "storyrec-v2")
    assert first == f"{name}-storyrec-v2"
    assert derive(first, "storyrec-v2", f"storyrec-v{n + 1}") == f"{name}-storyrec-v{n + 1}"


@given(new=NAME)
def test_the_written_settings_are_what_the_functions_read(new: str) -> None:
    old = Settings.from_env({"STORYREC_GCP_PROJECT": "p"})
    names = new_names(old, new)
    env = {"STORYREC_GCP_PROJECT": "p", **names.env()}
    assert Settings.from_env(env) == switched_settings(old, names)  # typed and valid as read
    assert Names.of(Settings.from_env(env)) == names
    assert second_slot(names.solution) == f"{names.solution}-b"  # the new group's second slot fits its name
    filter_name, _ = feed_filter_spec(names.filter, old.recommend)
    assert VALID_RESOURCE_NAME.fullmatch(filter_name) and len(filter_name) <= RESOURCE_NAME_MAX_CHARS


def test_the_written_resources_file_parses_and_names_the_new_resources() -> None:
    old = Settings.from_env({"STORYREC_GCP_PROJECT": "p"})
    names = new_names(old, "storyrec-v2")
    config = switched_config(load_config(DEFAULT_CONFIG), names, old.personalize.dataset_group)
    parsed = parse_config(config_json(config))  # validated against the service model, as bootstrap does
    assert parsed == config
    assert (parsed.dataset_group, parsed.serving.name, parsed.campaign) == (
        "storyrec-v2",
        "storyrec-user-personalization-storyrec-v2",
        "storyrec-feed-storyrec-v2",
    )
    assert parsed.attribution is not None and parsed.attribution.name == "storyrec-attribution-storyrec-v2"
