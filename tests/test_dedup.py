"""Dedup, split groups and the decontamination check on crafted sets."""

from curation.dedup import (HASH_SEED, NearParams, candidate_pairs, clusters, dedup, find_leaks,
                            item_tokens, jaccard, lsh_bands, shingle_sets, signature_matrix,
                            split_groups, tokens)
from curation.split import LeakError, leak_message, make_splits, run_leak_suite
from wpqa.params import SplitParams
from wpqa.records import QAPair

NEAR = NearParams(threshold=0.7, num_perm=128, shingle_words=3, ngram_words=13)
SPLIT = SplitParams(test_size=2, near_dup_threshold=0.7, num_perm=128, shingle_words=3,
                    leak_ngram_words=13, licenses={"*": "mit"})

UPDATE = ("To update WordPress, follow these steps:\n"
          "1. Back up the database and the wp-content folder before you start.\n"
          "2. Go to Dashboard > Updates and read the release notes.\n"
          "3. Click Update to version 6.4 and wait until the update finishes.\n"
          "4. Open the site and check that the theme and the plugins still work.")
CACHE = ("Here are the possible solutions to the problem:\n"
         "1. Clear the page cache in the caching plugin settings.\n"
         "2. Purge the CDN cache from the CDN provider's dashboard.\n"
         "3. Open the page in a private browser window to skip the browser cache.")
MENU = ("To add a menu item, follow these steps:\n"
        "1. Go to Appearance > Menus and choose the menu to change.\n"
        "2. Tick the pages to add in the left column and click Add to Menu.\n"
        "3. Drag the new items into place and click Save Menu.")


def qa(id_, question, answer, url="https://docs.example.test/a/", kind="steps", origin=""):
    return QAPair(id=id_, question=question, answer=answer, kind=kind, source_url=url,
                  source="documentation", section_id="s-" + id_, heading_path=["A"],
                  content_hash="h", generator="rules-v1", origin_id=origin)


def crafted():
    return [
        qa("a1", "How do I update to WordPress 6.4?", UPDATE, url="https://d.test/update-64/"),
        # The same item with other case, spacing and punctuation: an exact duplicate.
        qa("a2", "how do I update to  WordPress 6.4", UPDATE.replace("start.", "start").upper(),
           url="https://d.test/mirror/"),
        # One word changed: a near duplicate.
        qa("a3", "How do I update to WordPress 6.4?", UPDATE.replace("wait until", "wait till"),
           url="https://d.test/copy/"),
        # Another version: looks alike, but a different item.
        qa("a4", "How do I update to WordPress 6.5?", UPDATE.replace("6.4", "6.5"),
           url="https://d.test/update-65/"),
        qa("c1", "My changes do not show on the site", CACHE, kind="solutions",
           url="https://d.test/cache/"),
        # A paraphrase of c1 made on purpose (origin_id): kept, and kept with c1.
        qa("c2", "My edits do not show on the site", CACHE, kind="solutions",
           url="https://d.test/cache-faq/", origin="c1"),
        qa("m1", "How do I add a menu item?", MENU, url="https://d.test/menus/"),
        qa("m2", "How do I add a link to a menu?", MENU.replace("pages", "links"),
           url="https://d.test/menu-links/"),
    ]


def test_tokens_keep_version_numbers():
    assert tokens("Update to WordPress 6.4.1, then 6.5!") == ["update", "to", "wordpress", "6.4.1",
                                                              "then", "6.5"]
    assert tokens("WordPress 6.4") != tokens("WordPress 6.5")
    # List markers are layout, not numbers.
    assert "1" not in item_tokens(qa("x", "Q?", "Intro:\n1. Do it.\n2. Then this."))


def test_crafted_set_dedups_as_expected():
    result = dedup(crafted(), NEAR)
    dropped = {d.qa.id: (d.reason, d.duplicate_of) for d in result.dropped}
    assert dropped["a2"] == ("exact_duplicate", "a1")
    assert dropped["a3"] == ("near_duplicate", "a1")
    assert dropped["m2"] == ("near_duplicate", "m1")
    assert {qa.id for qa in result.kept} == {"a1", "a4", "c1", "c2", "m1"}
    misses = {(m.a, m.b): m.why for m in result.near_misses}
    assert misses[("a1", "a4")] == "different_numbers"
    assert misses[("c1", "c2")] == "paraphrase"
    # The version near-miss really is similar: only its numbers keep it.
    sets = shingle_sets([item_tokens(q) for q in crafted()], 3)
    assert jaccard(sets[0], sets[3]) >= NEAR.threshold
    [cluster, *_] = clusters(result)
    assert cluster["kept"] == "a1" and [d["id"] for d in cluster["dropped"]] == ["a2", "a3"]


def test_dedup_is_deterministic_and_order_free():
    items = crafted()
    assert dedup(items, NEAR) == dedup(list(reversed(items)), NEAR)


def test_groups_join_pages_paraphrases_near_pairs_and_long_runs():
    result = dedup(crafted(), NEAR)
    shared = ("Back up the database and the wp-content folder before you start, then check "
              "that the theme and the plugins still work.")
    other = qa("z1", "How do I move my site?", "To move a site, follow these steps:\n1. " + shared +
               "\n2. Copy the files to the new host.", url="https://d.test/move/")
    copied = qa("z2", "How do I build a footer menu?", "To build a footer menu, follow these steps:\n"
                "1. Create the menu first.\n2. Tick the pages to add in the left column and click "
                "Add to Menu.\n3. Assign it to the footer location.", url="https://d.test/footer/")
    groups = split_groups(result.kept + [other, copied], result.kept_pairs, NEAR)
    assert groups["z2"] == groups["m1"]  # a 13-word run of m1's steps
    assert groups["c1"] == groups["c2"]  # paraphrase family
    assert groups["a1"] == groups["a4"]  # near pair kept apart by numbers: same side of the split
    assert groups["m1"] != groups["a1"]
    # z1 shares a 13-word run with nothing: its own group.
    assert groups["z1"] not in {groups["a1"], groups["m1"]}


def test_crafted_leak_fails_the_check_with_a_clear_message():
    train = [qa("t1", "How do I update to WordPress 6.4?", UPDATE), qa("t2", "How do I add a menu item?", MENU)]
    test = [
        qa("x1", "How do I upgrade to WordPress 6.4?", UPDATE.replace("wait until", "wait till"),
           url="https://d.test/other/"),
        # Different question and mostly different steps, but one long run copied from t2.
        qa("x2", "How do I build a footer menu?", "To build a footer menu, follow these steps:\n"
           "1. Create the menu first.\n2. Tick the pages to add in the left column and click Add "
           "to Menu.\n3. Assign it to the footer location.", url="https://d.test/footer/"),
        qa("x3", "My changes do not show on the site", CACHE, kind="solutions", url="https://d.test/c/"),
    ]
    leaks = find_leaks(train, test, NEAR)
    assert {(l.test_id, l.train_id, l.method) for l in leaks} == {
        ("x1", "t1", "minhash"), ("x1", "t1", "ngram"), ("x2", "t2", "ngram")}
    result = run_leak_suite(train, test, leaks)
    assert not result["success"]
    failed = {e["column"]: e["unexpected_ids"] for e in result["expectations"] if not e["success"]}
    assert failed == {"minhash_train_matches": ["x1"], "ngram_train_matches": ["x1", "x2"]}
    message = leak_message(leaks, len(test), 13)
    assert "2 of 3 test items overlap train (expected 0)" in message
    assert "test x1 ~ train t1: MinHash Jaccard" in message
    assert 'test x2 shares a 13-word run with train t2: "tick the pages to add' in message
    assert run_leak_suite(train, test[2:], find_leaks(train, test[2:], NEAR))["success"]


def test_make_splits_keeps_groups_together_and_finds_no_leak(bounds):
    items = crafted() + [qa(f"p{i}", f"How do I do task number {i} here?",
                            f"To do task {i}, follow these steps:\n1. Open screen {i} in the admin.\n"
                            f"2. Change setting {i} and save.", url=f"https://d.test/p{i}/")
                         for i in range(6)]
    for seed in range(8):
        out = make_splits(items, {}, SPLIT, bounds, seed)
        train_ids, test_ids = {q.id for q in out.train}, {q.id for q in out.test}
        assert not train_ids & test_ids and len(out.test) == 2
        for a, b in (("a1", "a4"), ("c1", "c2")):
            assert (a in train_ids) == (b in train_ids), (seed, a, b)
        assert out.metrics["leaks"] == 0 and out.gx["success"]
        assert out.metrics["dropped_exact_duplicate"] == 1 and out.metrics["dropped_near_duplicate"] == 2
        assert len(out.train) + len(out.test) + len(out.dropped) == len(items)


def test_leak_error_carries_the_outcome(bounds, monkeypatch):
    import curation.split as split

    monkeypatch.setattr(split, "split_groups", lambda items, *rest: {q.id: q.id for q in items})
    items = [qa("a1", "How do I update to WordPress 6.4?", UPDATE, url="https://d.test/1/"),
             qa("a9", "How do I update to WordPress 6.5?", UPDATE.replace("6.4", "6.5"),
                url="https://d.test/2/")] + \
            [qa(f"p{i}", f"How do I do task number {i} here?", f"To do task {i}, follow these steps:\n"
                f"1. Open screen {i} in the admin.\n2. Change setting {i} and save.",
                url=f"https://d.test/p{i}/") for i in range(4)]
    # Without the grouping, some seed puts the version pair on both sides: the check catches it.
    caught = 0
    for seed in range(20):
        try:
            make_splits(items, {}, SplitParams(**{**SPLIT.__dict__, "test_size": 1}), bounds, seed)
        except LeakError as err:
            caught += 1
            assert "overlap train (expected 0)" in str(err) and not err.outcome.gx["success"]
    assert caught


def test_signatures_and_bands_match_datasketch():
    """The vectorised MinHash and banding give datasketch's own values and candidates."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    items = crafted() + [qa(f"r{i}", f"How do I fix thing {i}?", MENU.replace("menu", f"menu {i}"))
                         for i in range(30)]
    sets = shingle_sets([item_tokens(q) for q in items], 3) + [np.zeros(0, dtype=np.uint64)]
    sig = signature_matrix(sets, 128, chunk_shingles=50)  # several chunks
    for k, values in enumerate(sets):
        m = MinHash(num_perm=128, seed=HASH_SEED, hashfunc=lambda v: v, scheme="affine64")
        m.update_batch(values)
        assert (sig[k] == m.hashvalues).all(), k
    bands, rows = lsh_bands(0.7, 128)
    assert (bands, rows) == (32, 4) and 1 - (1 - 0.7 ** rows) ** bands >= 0.99
    lsh = MinHashLSH(num_perm=128, params=(bands, rows))
    for k, values in enumerate(sets[:-1]):
        lsh.insert(k, MinHash(num_perm=128, seed=HASH_SEED, scheme="affine64", hashvalues=sig[k]))
    expected = {(min(k, j), max(k, j)) for k in range(len(sets) - 1)
                for j in lsh.query(MinHash(num_perm=128, seed=HASH_SEED, scheme="affine64",
                                           hashvalues=sig[k])) if j != k}
    found = {tuple(p) for p in candidate_pairs(sig[:-1], bands, rows).tolist()}
    assert found == expected and len(found) > 30
