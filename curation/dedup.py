"""Duplicates and leakage: exact and near-duplicate Q&A, split groups, decontamination.

The split stage calls these pure functions. Text is normalised to lower-case word tokens
with numbers kept whole, so "WordPress 6.4" and "WordPress 6.5" stay different tokens.

- Exact duplicates: the same normalised question and answer. The item with the smallest
  id is kept; the rest are dropped as `exact_duplicate` with the id they repeat.
- Near duplicates: MinHash LSH over word shingles of question + answer finds candidate
  pairs; a pair counts when the exact Jaccard similarity of the shingle sets reaches the
  threshold. The signatures are datasketch's (`MinHash`, affine64 scheme) and the banding
  is `MinHashLSH`'s, both computed for all items at once in numpy (tests check both
  against datasketch): per-item objects took most of a 100,000-item run (BENCHMARKS.md).
  A near pair is dropped as `near_duplicate` only when both items carry the same numbers
  (a version-number near-miss is a different item) and they are not
  paraphrases of one another (same `origin_id`, or one is the other's origin).
- Split groups join items that share a source page, a paraphrase family, a near pair of
  any kind, or a run of `leak_ngram_words` words, so no such pair straddles the split.
- The decontamination check looks at the finished splits on its own: every test item is
  compared with train by MinHash and by long word n-grams; the expected count is zero.
"""
from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from collections import defaultdict
from itertools import chain
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from datasketch import MinHash

from wpqa.records import QAPair

# A number keeps its dots and commas ("6.4.1", "1,000"); a word keeps an inner apostrophe.
LIST_MARK = re.compile(r"(?m)^[ \t]*\d+[.)][ \t]+")
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
HASH_SEED = 1  # datasketch's permutation seed: fixed, so signatures are reproducible


def tokens(text: str) -> list[str]:
    """Lower-case word and number tokens; punctuation and markup spacing dropped."""
    # Interned: 100,000 items hold ~7M tokens but a small vocabulary; one object per word.
    return list(map(sys.intern, TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())))


def numbers(toks: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in toks if t[0].isdigit())


def text_numbers(text: str) -> frozenset[str]:
    """The number tokens of `text`, as `numbers(tokens(text))` gives them, in one regex pass."""
    return frozenset(NUMBER.findall(unicodedata.normalize("NFKC", text)))


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


def _token_ids(token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """All tokens as random 64-bit ids in one array, and where each item starts."""
    flat = list(chain.from_iterable(token_lists))
    vocab = {t: _text_hash(t) for t in set(flat)}
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.uint64, count=len(flat))
    starts = np.concatenate([[0], np.cumsum([len(t) for t in token_lists], dtype=np.int64)])
    return ids, starts.astype(np.int64)


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
            shifted[:max(n - k, 0)] = ids[k:]
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


_FMIX = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, as datasketch's affine64 scheme pre-mixes inputs."""
    shift, m1, m2 = _FMIX
    h = h ^ (h >> shift)
    h = h * m1
    h = h ^ (h >> shift)
    h = h * m2
    return h ^ (h >> shift)


def signature_matrix(sets: Sequence[np.ndarray], num_perm: int, chunk_shingles: int = 40_000
                     ) -> np.ndarray:
    """MinHash signatures (items x num_perm), computed for all items at once.

    The values are those of datasketch's `MinHash(num_perm, seed=HASH_SEED,
    scheme="affine64")` fed the same 64-bit hashes (a test checks this): its permutations,
    its pre-mix, its affine step. Per-item `MinHash` objects cost ~0.15 ms each in Python,
    which is most of a 100,000-item run; one vectorised pass costs a few seconds.
    """
    a, b = MinHash(num_perm=num_perm, seed=HASH_SEED, scheme="affine64").permutations
    n = len(sets)
    out = np.full((n, num_perm), EMPTY, dtype=np.uint64)
    lengths = np.array([len(s) for s in sets], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    flat = _fmix64(np.concatenate(list(sets)).astype(np.uint64)) if n and starts[-1] else np.zeros(0, np.uint64)
    first = 0
    with np.errstate(over="ignore"):
        while first < n:
            last = int(np.searchsorted(starts, starts[first] + chunk_shingles, side="right")) - 1
            last = min(max(last, first + 1), n)
            s0, s1 = starts[first], starts[last]
            if s1 > s0:
                permuted = np.multiply.outer(a, flat[s0:s1])  # perms x shingles: rows contiguous
                permuted += b[:, None]
                nonempty = np.flatnonzero(lengths[first:last])
                out[first + nonempty] = np.minimum.reduceat(
                    permuted, starts[first:last][nonempty] - s0, axis=1).T
            first = last
    return out


def lsh_bands(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the most rows per band that still find a pair right at the threshold
    with probability >= `recall`. Candidates are confirmed exactly, so the extra candidates
    this lets through cost time, never precision."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold ** rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def candidate_pairs(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """LSH banding: (i, j) with i < j for items that agree on all rows of some band.

    The same candidates as datasketch's `MinHashLSH(params=(bands, rows))` (a test checks
    this), found by sorting each band's keys instead of one dict insert per item and band.
    """
    n = len(sig)
    found = [np.zeros(0, dtype=np.int64)]
    for band in range(bands):
        keys = np.ascontiguousarray(sig[:, band * rows:(band + 1) * rows]).view(
            np.dtype((np.void, 8 * rows))).ravel()
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same = ordered[1:] == ordered[:-1]
        # A bucket of k items gives every pair: item p with p+1, p+2 … while keys stay equal.
        run = same.copy()
        step = 1
        while run.any():
            left = np.flatnonzero(run)
            i, j = order[left], order[left + step]
            found.append(np.minimum(i, j) * n + np.maximum(i, j))
            step += 1
            run = run[:-1] & same[step - 1:] if len(run) > 1 else run[:0]
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1) if n else np.zeros((0, 2), dtype=np.int64)


def confirmed_pairs(candidates: np.ndarray, sig: np.ndarray, sets: Sequence[np.ndarray],
                    threshold: float) -> list[tuple[int, int, float]]:
    """Candidates whose exact shingle Jaccard reaches the threshold. A signature estimate far
    below it (over 4 standard errors) rules a candidate out before the exact check."""
    if not len(candidates):
        return []
    margin = 4 * np.sqrt(threshold * (1 - threshold) / sig.shape[1]) + 1e-9
    keep = []
    for start in range(0, len(candidates), 100_000):
        part = candidates[start:start + 100_000]
        estimate = (sig[part[:, 0]] == sig[part[:, 1]]).mean(axis=1)
        keep.append(part[estimate >= threshold - margin])
    out = []
    for i, j in np.concatenate(keep).tolist():
        score = jaccard(sets[i], sets[j])
        if score >= threshold:
            out.append((i, j, score))
    return out


def similar_pairs(sets: Sequence[np.ndarray], params: NearParams, sig: np.ndarray | None = None
                  ) -> list[tuple[int, int, float]]:
    """(i, j, jaccard) with i < j for every pair at or above the threshold: MinHash LSH
    proposes candidates in about linear time, each confirmed on the exact shingle sets, so a
    false positive of the sketch never drops an item."""
    sig = signature_matrix(sets, params.num_perm) if sig is None else sig
    candidates = candidate_pairs(sig, *lsh_bands(params.threshold, params.num_perm))
    return sorted(confirmed_pairs(candidates, sig, sets, params.threshold))


class Fingerprints:
    """What dedup, the split groups and the leak check need of each item, computed once
    per run and looked up by id: the exact-duplicate key, the numbers, the shingle set and
    MinHash signature (question + answer), and the hashes of every `ngram_words` run of
    the answer body. Tokens are not kept: 100,000 items' tokens would take ~0.5 GB."""

    def __init__(self, items: Sequence[QAPair], params: NearParams):
        self.index = {qa.id: k for k, qa in enumerate(items)}
        self.keys: list[str] = []
        self.numbers: list[frozenset[str]] = []
        whole: list[list[str]] = []
        bodies: list[list[str]] = []
        for qa in items:
            question = tokens(qa.question)
            intro, _, rest = qa.answer.partition("\n")
            intro_toks, body = tokens(intro), tokens(answer_text(rest))
            whole.append(question + intro_toks + body)
            bodies.append(body)
            self.keys.append(" ".join(question) + "\x1f" + " ".join(intro_toks + body))
            self.numbers.append(text_numbers(qa.question + "\n" + answer_text(qa.answer)))
        self.sets = shingle_sets(whole, params.shingle_words)
        del whole
        self.sig = signature_matrix(self.sets, params.num_perm)
        hashes, owners = window_hashes(bodies, params.ngram_words)
        long_enough = np.array([len(b) >= params.ngram_words for b in bodies] or [False])
        keep = long_enough[owners] if len(owners) else np.zeros(0, dtype=bool)
        self.run_hashes, self.run_owners = hashes[keep], owners[keep]

    def rows(self, items: Sequence[QAPair]) -> list[int]:
        return [self.index[qa.id] for qa in items]

    def runs(self, items: Sequence[QAPair]) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, owners) of the long runs of `items`; owners index into `items`."""
        position = np.full(len(self.index), -1, dtype=np.int64)
        position[self.rows(items)] = np.arange(len(items))
        mapped = position[self.run_owners]
        chosen = mapped >= 0
        return self.run_hashes[chosen], mapped[chosen]


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


def dedup(items: Iterable[QAPair], params: NearParams, fp: Fingerprints | None = None) -> DedupResult:
    """Drop exact and near duplicates, keeping the smallest id of each; see module doc."""
    ordered = sorted(items, key=lambda q: q.id)
    fp = fp or Fingerprints(ordered, params)
    first_by_key: dict[str, str] = {}
    dropped: list[Dropped] = []
    unique: list[QAPair] = []
    for qa in ordered:
        key = fp.keys[fp.index[qa.id]]
        if key in first_by_key:
            dropped.append(Dropped(qa, "exact_duplicate", first_by_key[key], 1.0))
        else:
            first_by_key[key] = qa.id
            unique.append(qa)

    rows = fp.rows(unique)
    nums = [fp.numbers[k] for k in rows]
    pairs = similar_pairs([fp.sets[k] for k in rows], params, fp.sig[rows])
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
                 params: NearParams, fp: Fingerprints | None = None) -> dict[str, str]:
    """Item id -> group key: items are joined by page, paraphrase family, near pair or a
    shared run of `params.ngram_words` words. The key is the group's smallest id."""
    ordered = sorted(items, key=lambda q: q.id)
    fp = fp or Fingerprints(ordered, params)
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
    hashes, owners = fp.runs(ordered)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    same = np.flatnonzero((hashes[1:] == hashes[:-1]) & (owners[1:] != owners[:-1]))
    for pos in same.tolist():
        groups.join(int(owners[pos]), int(owners[pos + 1]))
    return {qa.id: ordered[groups.find(k)].id for k, qa in enumerate(ordered)}


@dataclass(frozen=True)
class Leak:
    test_id: str
    train_id: str
    method: str  # minhash | ngram
    score: float  # Jaccard for minhash; run length in words for ngram
    evidence: str  # the two questions, or the shared run of words


def find_leaks(train: Sequence[QAPair], test: Sequence[QAPair], params: NearParams,
               fp: Fingerprints | None = None) -> list[Leak]:
    """Test items that overlap train: MinHash Jaccard >= threshold, or a shared long run.

    At most one leak per test item and method, naming the closest train item.
    """
    if not train or not test:
        return []
    both = list(train) + list(test)
    fp = fp or Fingerprints(both, params)
    rows = fp.rows(both)
    sets, sig = [fp.sets[k] for k in rows], fp.sig[rows]
    pairs = candidate_pairs(sig, *lsh_bands(params.threshold, params.num_perm))
    cross = pairs[(pairs[:, 0] < len(train)) & (pairs[:, 1] >= len(train))]
    best: dict[int, tuple[float, int]] = {}
    for i, j, score in confirmed_pairs(cross, sig, sets, params.threshold):
        k = j - len(train)
        best[k] = max(best.get(k, (0.0, 0)), (score, -i))
    leaks = []
    for k, (score, minus_i) in sorted(best.items()):
        leaks.append(Leak(test[k].id, train[-minus_i].id, "minhash", round(score, 3),
                          f"{test[k].question!r} ~ {train[-minus_i].question!r}"))

    n = params.ngram_words
    train_h, train_o = fp.runs(train)
    order = np.argsort(train_h, kind="stable")
    train_h, train_o = train_h[order], train_o[order]
    test_h, test_o = fp.runs(test)
    hits = test_o[np.isin(test_h, train_h)]
    for k in sorted({int(k) for k in hits}):  # only items with a hash in train: confirm each
        toks = body_tokens(test[k])
        for start in range(len(toks) - n + 1):
            run = toks[start:start + n]
            h = np.uint64(_window_hash(run))
            pos = int(np.searchsorted(train_h, h))
            while pos < len(train_h) and train_h[pos] == h:
                owner = int(train_o[pos])
                text = " ".join(run)
                if f" {text} " in f" {' '.join(body_tokens(train[owner]))} ":  # no hash collision
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
