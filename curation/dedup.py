"""Duplicates and leakage: exact and near-duplicate Q&A, split groups, decontamination.

The split stage calls these pure functions. Text is normalised to lower-case word tokens
with numbers kept whole, so "WordPress 6.4" and "WordPress 6.5" stay different tokens.

- Exact duplicates: the same normalised question and answer. The item with the smallest
  id is kept; the rest are dropped as `exact_duplicate` with the id they repeat.
- Near duplicates: MinHash LSH (datasketch) over word shingles of question + answer finds
  candidate pairs; a pair counts when the exact Jaccard similarity of the shingle sets
  reaches the threshold. A near pair is dropped as `near_duplicate` only when both items
  carry the same numbers (a version-number near-miss is a different item) and they are not
  paraphrases of one another (same `origin_id`, or one is the other's origin).
- Split groups join items that share a source page, a paraphrase family, a near pair of
  any kind, or a run of `leak_ngram_words` words, so no such pair straddles the split.
- The decontamination check looks at the finished splits on its own: every test item is
  compared with train by MinHash and by long word n-grams; the expected count is zero.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

from wpqa.records import QAPair

# A number keeps its dots and commas ("6.4.1", "1,000"); a word keeps an inner apostrophe.
LIST_MARK = re.compile(r"(?m)^[ \t]*\d+[.)][ \t]+")
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*")
HASH_SEED = 1  # datasketch's permutation seed: fixed, so signatures are reproducible


def tokens(text: str) -> list[str]:
    """Lower-case word and number tokens; punctuation and markup spacing dropped."""
    return TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def numbers(toks: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in toks if t[0].isdigit())


def answer_text(answer: str) -> str:
    """The answer without list markers: they are layout, and not numbers to compare."""
    return LIST_MARK.sub("", answer)


def item_tokens(qa: QAPair) -> list[str]:
    """Question and answer: what near duplicates are measured on."""
    return tokens(qa.question) + tokens(answer_text(qa.answer))


def body_tokens(qa: QAPair) -> list[str]:
    """The answer after its intro line: what a long shared run is looked for in. The intro
    is a template around the question ("Here are the possible solutions to the problem:")
    and would tie unrelated items together."""
    return tokens(answer_text(qa.answer.partition("\n")[2]))


def exact_key(qa: QAPair) -> str:
    return " ".join(tokens(qa.question)) + "\x1f" + " ".join(tokens(answer_text(qa.answer)))


def _token_ids(token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """All tokens as random 64-bit ids in one array, and where each item starts."""
    vocab: dict[str, int] = {}
    flat: list[int] = []
    starts = [0]
    for toks in token_lists:
        for t in toks:
            v = vocab.get(t)
            if v is None:
                v = vocab[t] = _text_hash(t)
            flat.append(v)
        starts.append(len(flat))
    return np.array(flat, dtype=np.uint64), np.array(starts, dtype=np.int64)


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def window_hashes(token_lists: Sequence[Sequence[str]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, owners): a 64-bit hash of every run of `size` tokens and its item's index.

    One vectorised pass over all items (a polynomial hash, wrapping at 2**64); an item
    shorter than `size` gets one hash of its whole text, so it still has a shingle.
    """
    ids, starts = _token_ids(token_lists)
    lengths = np.diff(starts)
    owner_of_token = np.repeat(np.arange(len(lengths)), lengths)
    n = len(ids)
    hashes = np.zeros(n, dtype=np.uint64)
    power = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for k in range(size):
            shifted = np.zeros(n, dtype=np.uint64)
            shifted[:n - k] = ids[k:]
            hashes = hashes * power + shifted
    # A window is whole when it ends inside its own item.
    valid = np.arange(n) + size <= starts[owner_of_token + 1]
    out_h, out_o = hashes[valid], owner_of_token[valid]
    short = np.flatnonzero((lengths > 0) & (lengths < size))
    if len(short):  # whole-text hash for short items
        extra = np.array([_text_hash(" ".join(token_lists[i])) for i in short], dtype=np.uint64)
        out_h, out_o = np.concatenate([out_h, extra]), np.concatenate([out_o, short])
    return out_h, out_o


def shingle_sets(token_lists: Sequence[Sequence[str]], size: int) -> list[np.ndarray]:
    """Per item, the sorted unique hashes of its `size`-word shingles."""
    hashes, owners = window_hashes(token_lists, size)
    order = np.lexsort((hashes, owners))
    hashes, owners = hashes[order], owners[order]
    bounds = np.searchsorted(owners, np.arange(len(token_lists) + 1))
    return [np.unique(hashes[bounds[i]:bounds[i + 1]]) for i in range(len(token_lists))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def family(qa: QAPair) -> str:
    """Paraphrases share a family: the id of the item they were made from."""
    return qa.origin_id or qa.id



@dataclass(frozen=True)
class NearParams:
    threshold: float  # Jaccard similarity of word shingles that makes a near pair
    num_perm: int  # MinHash permutations
    shingle_words: int  # words per shingle
    ngram_words: int  # a shared run this long counts as a leak (and joins split groups)


def signatures(sets: Sequence[np.ndarray], num_perm: int) -> list[MinHash]:
    """datasketch MinHashes of 64-bit shingle hashes (scheme affine64, fixed seed)."""
    proto = MinHash(num_perm=num_perm, seed=HASH_SEED, hashfunc=_identity, scheme="affine64")
    out = []
    for values in sets:
        m = proto.copy()
        m.update_batch(values)
        out.append(m)
    return out


def _identity(value):
    return value


def lsh_bands(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the most rows per band that still find a pair right at the threshold
    with probability >= `recall`. Candidates are confirmed exactly, so the extra candidates
    this lets through cost time, never precision."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold ** rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def _lsh(sigs: Sequence[MinHash], params: NearParams) -> MinHashLSH:
    lsh = MinHashLSH(num_perm=params.num_perm, params=lsh_bands(params.threshold, params.num_perm))
    with lsh.insertion_session() as session:
        for i, sig in enumerate(sigs):
            session.insert(i, sig, check_duplication=False)
    return lsh


def similar_pairs(sets: Sequence[np.ndarray], params: NearParams, progress: bool = False
                  ) -> list[tuple[int, int, float]]:
    """(i, j, jaccard) with i < j for every pair at or above the threshold.

    LSH proposes candidates in about linear time; each is confirmed on the exact shingle
    sets, so a false positive of the sketch never drops an item.
    """
    from tqdm import tqdm

    sigs = signatures(sets, params.num_perm)
    lsh = _lsh(sigs, params)
    pairs = []
    for i, sig in enumerate(tqdm(sigs, desc="near duplicates", unit="item", disable=not progress)):
        for j in lsh.query(sig):
            if j > i:
                score = jaccard(sets[i], sets[j])
                if score >= params.threshold:
                    pairs.append((i, j, score))
    return sorted(pairs)


@dataclass(frozen=True)
class Dropped:
    qa: QAPair
    reason: str  # exact_duplicate | near_duplicate
    duplicate_of: str
    similarity: float


@dataclass(frozen=True)
class NearMiss:
    """A near pair kept apart on purpose: different numbers, or paraphrases."""

    a: str
    b: str
    similarity: float
    why: str  # different_numbers | paraphrase


@dataclass(frozen=True)
class DedupResult:
    kept: list[QAPair]
    dropped: list[Dropped]
    near_misses: list[NearMiss]
    # Near pairs among kept items (any kind), by id: they must share a split group.
    kept_pairs: list[tuple[str, str, float]]


def dedup(items: Iterable[QAPair], params: NearParams, progress: bool = False) -> DedupResult:
    """Drop exact and near duplicates, keeping the smallest id of each; see module doc."""
    ordered = sorted(items, key=lambda q: q.id)
    first_by_key: dict[str, str] = {}
    dropped: list[Dropped] = []
    unique: list[QAPair] = []
    for qa in ordered:
        key = exact_key(qa)
        if key in first_by_key:
            dropped.append(Dropped(qa, "exact_duplicate", first_by_key[key], 1.0))
        else:
            first_by_key[key] = qa.id
            unique.append(qa)

    toks = [item_tokens(qa) for qa in unique]
    nums = [numbers(t) for t in toks]
    pairs = similar_pairs(shingle_sets(toks, params.shingle_words), params, progress)
    neighbours: dict[int, list[tuple[int, float]]] = defaultdict(list)
    near_misses = []
    for i, j, score in pairs:
        a, b = unique[i], unique[j]
        if family(a) == family(b):
            near_misses.append(NearMiss(a.id, b.id, score, "paraphrase"))
        elif nums[i] != nums[j]:
            near_misses.append(NearMiss(a.id, b.id, score, "different_numbers"))
        else:
            neighbours[j].append((i, score))  # i < j: j has the later id
    removed: set[int] = set()
    for j in range(len(unique)):
        earlier = [(score, -i) for i, score in neighbours[j] if i not in removed]
        if earlier:
            score, minus_i = max(earlier)  # the most similar kept item; ties: smallest id
            removed.add(j)
            dropped.append(Dropped(unique[j], "near_duplicate", unique[-minus_i].id, score))
    kept = [qa for k, qa in enumerate(unique) if k not in removed]
    kept_pairs = [(unique[i].id, unique[j].id, s) for i, j, s in pairs
                  if i not in removed and j not in removed]
    return DedupResult(kept, sorted(dropped, key=lambda d: d.qa.id), near_misses, kept_pairs)


def clusters(result: DedupResult) -> list[dict]:
    """Each kept item with the duplicates dropped in its favour, largest clusters first."""
    members: dict[str, list[Dropped]] = defaultdict(list)
    for d in result.dropped:
        members[d.duplicate_of].append(d)
    by_id = {qa.id: qa for qa in result.kept} | {d.qa.id: d.qa for d in result.dropped}
    out = []
    for keep_id, dups in members.items():
        keep = by_id[keep_id]
        out.append({"kept": keep.id, "question": keep.question, "source_url": keep.source_url,
                    "dropped": [{"id": d.qa.id, "question": d.qa.question, "reason": d.reason,
                                 "similarity": round(d.similarity, 3),
                                 "source_url": d.qa.source_url}
                                for d in sorted(dups, key=lambda d: d.qa.id)]})
    return sorted(out, key=lambda c: (-len(c["dropped"]), c["kept"]))


class _Groups:
    """Union-find over item indices."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def split_groups(items: Sequence[QAPair], near_pairs: Iterable[tuple[str, str, float]],
                 ngram_words: int) -> dict[str, str]:
    """Item id -> group key: items are joined by page, paraphrase family, near pair or a
    shared run of `ngram_words` words. The key is the group's smallest id."""
    ordered = sorted(items, key=lambda q: q.id)
    index = {qa.id: k for k, qa in enumerate(ordered)}
    groups = _Groups(len(ordered))
    first: dict[str, int] = {}
    for k, qa in enumerate(ordered):
        for key in (f"page:{qa.source_url}", f"family:{family(qa)}"):
            groups.join(k, first.setdefault(key, k))
        if qa.origin_id in index:
            groups.join(k, index[qa.origin_id])
    for a, b, _ in near_pairs:
        groups.join(index[a], index[b])
    bodies = [body_tokens(qa) for qa in ordered]
    hashes, owners = window_hashes(bodies, ngram_words)
    short = np.array([len(b) < ngram_words for b in bodies] or [False])
    keep = ~short[owners] if len(owners) else np.zeros(0, dtype=bool)
    hashes, owners = hashes[keep], owners[keep]
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    same = np.flatnonzero(hashes[1:] == hashes[:-1]) if len(hashes) else []
    for pos in same:
        if owners[pos] != owners[pos + 1]:
            groups.join(int(owners[pos]), int(owners[pos + 1]))
    return {qa.id: ordered[groups.find(k)].id for k, qa in enumerate(ordered)}


@dataclass(frozen=True)
class Leak:
    test_id: str
    train_id: str
    method: str  # minhash | ngram
    score: float  # Jaccard for minhash; run length in words for ngram
    evidence: str  # the two questions, or the shared run of words


def find_leaks(train: Sequence[QAPair], test: Sequence[QAPair], params: NearParams) -> list[Leak]:
    """Test items that overlap train: MinHash Jaccard >= threshold, or a shared long run.

    At most one leak per test item and method, naming the closest train item.
    """
    if not train or not test:
        return []
    train_toks = [item_tokens(qa) for qa in train]
    test_toks = [item_tokens(qa) for qa in test]
    train_sets = shingle_sets(train_toks, params.shingle_words)
    test_sets = shingle_sets(test_toks, params.shingle_words)
    lsh = _lsh(signatures(train_sets, params.num_perm), params)
    leaks = []
    for k, sig in enumerate(signatures(test_sets, params.num_perm)):
        found = [(jaccard(test_sets[k], train_sets[i]), -i) for i in lsh.query(sig)]
        found = [f for f in found if f[0] >= params.threshold]
        if found:
            score, minus_i = max(found)
            leaks.append(Leak(test[k].id, train[-minus_i].id, "minhash", round(score, 3),
                              f"{test[k].question!r} ~ {train[-minus_i].question!r}"))

    n = params.ngram_words
    train_body = [body_tokens(qa) for qa in train]
    train_h, train_o = window_hashes(train_body, n)
    long_enough = np.array([len(t) >= n for t in train_body])
    train_h, train_o = train_h[long_enough[train_o]], train_o[long_enough[train_o]]
    order = np.argsort(train_h, kind="stable")
    train_h, train_o = train_h[order], train_o[order]
    for k, qa in enumerate(test):
        toks = body_tokens(qa)
        for start in range(len(toks) - n + 1):
            run = toks[start:start + n]
            h = np.uint64(_window_hash(run))
            pos = int(np.searchsorted(train_h, h))
            while pos < len(train_h) and train_h[pos] == h:
                owner = int(train_o[pos])
                text = " ".join(run)
                if f" {text} " in f" {' '.join(train_body[owner])} ":  # not a hash collision
                    leaks.append(Leak(test[k].id, train[owner].id, "ngram", float(n), text))
                    break
                pos += 1
            else:
                continue
            break
    return sorted(leaks, key=lambda x: (x.test_id, x.method))


def _window_hash(run: Sequence[str]) -> int:
    """The same polynomial hash `window_hashes` gives a run of tokens."""
    h = 0
    for t in run:
        h = (h * 0x9E3779B97F4A7C15 + _text_hash(t)) & 0xFFFFFFFFFFFFFFFF
    return h


def stable_order(keys: Iterable[str], seed: int) -> list[str]:
    """Keys in a seeded hash order: deterministic, independent of input order."""
    return sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
