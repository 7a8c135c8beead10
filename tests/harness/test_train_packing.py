"""Packed training blocks: separators, exact budgets, seeded order."""

from zipfit.harness.packing import Blocks, batch_plan, pack


def test_pack_puts_a_separator_before_every_document():
    assert pack([[5, 6], [7], [8, 9, 10]], 0).tolist() == [0, 5, 6, 0, 7, 0, 8, 9, 10]


def test_blocks_cover_every_target_once():
    stream = pack([[5, 6], [7], [8, 9, 10]], 0)
    blocks = Blocks(stream, 4)
    assert blocks.targets == 8 and blocks.count == 2
    assert blocks.block(0).tolist() == [0, 5, 6, 0, 7]
    assert blocks.block(1).tolist() == [7, 0, 8, 9, 10]
    assert blocks.block(1, 2).tolist() == [7, 0, 8]


def test_plan_is_one_epoch_by_default_and_exact_under_a_budget():
    blocks = Blocks(pack([list(range(1, 100))] * 10, 0), 16)  # 999 targets
    epoch = batch_plan(blocks, 4, None, seed=0)
    assert sum(n for b in epoch for _, n in b) == 999
    assert sorted(i for b in epoch for i, _ in b) == list(range(blocks.count))
    assert all(len(b) == 4 for b in epoch[:-1])
    cut = batch_plan(blocks, 4, 100, seed=0)
    assert sum(n for b in cut for _, n in b) == 100
    assert [i for b in cut for i, _ in b] == [i for b in epoch for i, _ in b][: len([i for b in cut for i, _ in b])]
    more = batch_plan(blocks, 4, 2500, seed=0)
    assert sum(n for b in more for _, n in b) == 2500  # repeated, reshuffled


def test_plan_order_depends_on_the_seed_only():
    blocks = Blocks(pack([list(range(1, 50))] * 20, 0), 8)
    assert batch_plan(blocks, 3, None, seed=1) == batch_plan(blocks, 3, None, seed=1)
    assert batch_plan(blocks, 3, None, seed=1) != batch_plan(blocks, 3, None, seed=2)
