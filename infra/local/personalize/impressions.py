"""Impressions in training: what a user was shown and did not click.

Personalize's interactions may carry ``IMPRESSION``: the ``|``-separated item IDs the user was shown
with the interaction. An item shown to a user and never clicked by them is evidence against it for
that user. The user-personalization blend has a part for it, ``impressed`` (``blend_impressed``):
minus log(1 + times shown and not clicked), per user and item, chosen on validation like every other
part, and kept only where it beats the best blend without it by ``MIN_GAIN`` on every validation split
(weight 0 otherwise: ``training.impressions_if_clear``). Data
without the column (an older schema), or without a single impression, trains exactly as before: the
part is absent and its weight is pinned to 0 (``training.choose``). docs/BENCHMARKS.md has the measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

COLUMN = "IMPRESSION"
SEPARATOR = "|"
# A feed shown in the user's latest session may still be clicked (every click of one feed carries the same
# list, and the newest clicks may not be in the data yet): only impressions at least this much older than
# the user's newest interaction count as "not clicked" (a web session's usual 30-minute timeout).
UNDECIDED_SECONDS = 1800
# training.impressions_if_clear: a blend reading impressions must beat the best without by this much
# (relative) on validation, on every split, to be kept.
MIN_GAIN = 0.02


def shown_not_clicked(interactions: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> sp.csr_matrix | None:
    """Users x items: log(1 + how often shown and not clicked) (None without impressions).

    "Clicked" is any interaction of the user with the item in ``interactions``; impressions of the user's
    latest session (``UNDECIDED_SECONDS``) are not counted; items and users the model does not know are
    dropped.
    """
    if COLUMN not in interactions:
        return None
    column = interactions[COLUMN]
    given = column.notna().to_numpy() & (column.astype(str).str.len() > 0).to_numpy()
    if not given.any():
        return None
    newest = interactions.groupby("USER_ID", observed=True)["TIMESTAMP"].transform("max").to_numpy()
    given &= interactions["TIMESTAMP"].to_numpy() < newest - UNDECIDED_SECONDS
    if not given.any():
        return None
    rows = interactions.loc[given, ["USER_ID", COLUMN]]
    shown = rows.assign(_item=rows[COLUMN].astype(str).str.split(SEPARATOR)).explode("_item")
    users = pd.Index(user_ids).get_indexer(shown["USER_ID"].astype(str))
    items = pd.Index(item_ids).get_indexer(shown["_item"].astype(str).str.strip())
    known = (users >= 0) & (items >= 0)
    shape = (len(user_ids), len(item_ids))
    if not known.any():
        return None
    counts = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (users[known], items[known])), shape=shape, dtype=np.float32
    )
    counts.sum_duplicates()
    cu = pd.Index(user_ids).get_indexer(interactions["USER_ID"].astype(str))
    ci = pd.Index(item_ids).get_indexer(interactions["ITEM_ID"].astype(str))
    ok = (cu >= 0) & (ci >= 0)
    clicked = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (cu[ok], ci[ok])), shape=shape)
    clicked.sum_duplicates()
    clicked.data[:] = 1.0
    counts = (counts - counts.multiply(clicked)).tocsr()
    counts.eliminate_zeros()
    if not counts.nnz:
        return None
    counts.data = np.log1p(counts.data).astype(np.float32)
    return counts


def penalty(matrix: sp.csr_matrix, user: int) -> np.ndarray:
    """The ``impressed`` part for one user: minus the row of :func:`shown_not_clicked` (dense)."""
    out = np.zeros(matrix.shape[1], dtype=np.float32)
    lo, hi = matrix.indptr[user], matrix.indptr[user + 1]
    out[matrix.indices[lo:hi]] = -matrix.data[lo:hi]
    return out
