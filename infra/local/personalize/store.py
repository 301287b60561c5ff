"""Persistent engine state: JSON metadata for resources, pickles for dataset rows and models."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pandas as pd

from infra.local.personalize.errors import ResourceNotFoundException
from infra.local.personalize.kinds import KINDS
from infra.local.personalize.recipes import MODEL_FORMAT, Model

MODEL_CACHE = 8
# state.json's layout; bump (or migrate in _load) when it changes.
STATE_FORMAT = 2
FORMAT_KEY = "_format"
# Every model file starts with this line, so a model of another format is refused before unpickling.
MODEL_HEADER = b"storyrec-personalize-model %d\n"


class StateFormatError(RuntimeError):
    """The state directory was written by an engine of another format."""


def now() -> float:
    return time.time()


class Store:
    """Resources by kind and ARN, saved atomically to ``state.json`` on every change."""

    def __init__(self, state_dir: str | Path) -> None:
        self.root = Path(state_dir)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "models").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self._frames: dict[str, pd.DataFrame] = {}
        self._models: OrderedDict[str, Model] = OrderedDict()
        self._load()

    @property
    def _state_file(self) -> Path:
        return self.root / "state.json"

    def _load(self) -> None:
        if self._state_file.exists():
            saved = json.loads(self._state_file.read_text())
            found = saved.get(FORMAT_KEY, 1)
            if found != STATE_FORMAT:
                raise StateFormatError(
                    f"{self.root} holds engine state of format {found}; this engine reads format "
                    f"{STATE_FORMAT} (models and resources changed shape). It is local test state: delete "
                    "the directory or start the engine with another --state-dir, then import and train again."
                )
            for kind in KINDS:
                self.resources[kind] = saved.get(kind, {})

    def save(self) -> None:
        with self.lock:
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({FORMAT_KEY: STATE_FORMAT, **self.resources}, indent=1, sort_keys=True))
            os.replace(tmp, self._state_file)

    def get(self, kind: str, arn: str) -> dict[str, Any]:
        found = self.resources[kind].get(arn)
        if found is None:
            raise ResourceNotFoundException(f"Could not find resource: {arn}")
        return found

    def put(self, kind: str, arn: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.resources[kind][arn] = record
            self.save()

    def update(self, kind: str, arn: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            record = self.get(kind, arn)
            record.update(changes)
            record["lastUpdatedDateTime"] = now()
            self.save()
            return record

    def delete(self, kind: str, arn: str) -> None:
        with self.lock:
            self.get(kind, arn)
            del self.resources[kind][arn]
            self.save()

    def find(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in list(self.resources[kind].values()) if all(r.get(k) == v for k, v in match.items())]

    def _path(self, folder: str, arn: str) -> Path:
        return self.root / folder / (hashlib.sha1(arn.encode()).hexdigest() + ".pkl")

    def frame(self, dataset_arn: str) -> pd.DataFrame | None:
        """The rows imported into a dataset so far (None if nothing imported)."""
        with self.lock:
            if dataset_arn not in self._frames:
                path = self._path("data", dataset_arn)
                if not path.exists():
                    return None
                self._frames[dataset_arn] = pd.read_pickle(path)
            return self._frames[dataset_arn]

    def set_frame(self, dataset_arn: str, df: pd.DataFrame) -> None:
        with self.lock:
            df.to_pickle(self._path("data", dataset_arn))
            self._frames[dataset_arn] = df

    def drop_frame(self, dataset_arn: str) -> None:
        with self.lock:
            self._frames.pop(dataset_arn, None)
            self._path("data", dataset_arn).unlink(missing_ok=True)

    def model(self, version_arn: str) -> Model:
        """A trained model, kept in a small LRU cache."""
        with self.lock:
            if version_arn in self._models:
                self._models.move_to_end(version_arn)
                return self._models[version_arn]
        path = self._path("models", version_arn)
        if not path.exists():
            raise ResourceNotFoundException(f"No trained model for {version_arn}")
        with path.open("rb") as fh:
            header = fh.readline()
            if header != MODEL_HEADER % MODEL_FORMAT:
                raise StateFormatError(
                    f"The model of {version_arn} ({path.name}) was written by an engine of another format "
                    f"(header {header[:60]!r}); train a new solution version."
                )
            loaded: Model = pickle.load(fh)
        with self.lock:
            self._models[version_arn] = loaded
            while len(self._models) > MODEL_CACHE:
                self._models.popitem(last=False)
        return loaded

    def set_model(self, version_arn: str, model: Model) -> None:
        path = self._path("models", version_arn)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(MODEL_HEADER % MODEL_FORMAT)
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        with self.lock:
            self._models[version_arn] = model
