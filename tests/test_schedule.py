import numpy as np

from trainer.schedule import (
    PlateauScheduler,
    count_steps_without_decrease,
    count_steps_without_decrease_robust,
)


def test_falling_loss_has_no_plateau():
    rng = np.random.default_rng(0)
    loss = np.linspace(2.0, 1.0, 400) + rng.normal(0, 0.05, 400)
    assert count_steps_without_decrease(loss) < 50


def test_flat_loss_after_a_fall_is_a_plateau_of_about_its_length():
    rng = np.random.default_rng(1)
    loss = np.concatenate([np.linspace(3.0, 1.0, 200), np.full(300, 1.0)]) + rng.normal(
        0, 0.05, 500
    )
    steps = count_steps_without_decrease(loss)
    assert 250 <= steps <= 500


def test_robust_count_ignores_spikes():
    rng = np.random.default_rng(2)
    loss = np.linspace(2.0, 1.0, 300) + rng.normal(0, 0.02, 300)
    loss[-8:] = 6.0  # a burst of spikes at the end looks like a rise to the plain test
    assert count_steps_without_decrease(loss) >= 250
    assert count_steps_without_decrease_robust(loss) < 50


class _Opt:
    def __init__(self):
        self.param_groups = [{"lr": 1.0}, {"lr": 0.1}]


def test_scheduler_halves_every_group_once_the_loss_is_flat():
    opt = _Opt()
    sched = PlateauScheduler(opt, patience=100)
    rng = np.random.default_rng(3)
    dropped = [sched.step(1.0 + i * 1e-4 + rng.normal(0, 0.01)) for i in range(400)]
    assert any(dropped)
    assert opt.param_groups[0]["lr"] < 1.0
    assert np.isclose(opt.param_groups[0]["lr"], 10 * opt.param_groups[1]["lr"])


def test_wall_clock_cosine_warms_up_then_decays_over_the_budget(monkeypatch):
    import torch

    from trainer import schedule
    from trainer.schedule import WallClockCosine

    now = [1000.0]
    monkeypatch.setattr(schedule.time, "time", lambda: now[0])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WallClockCosine(opt, started_at=1000.0, seconds=100.0, warmup=10, floor=0.0)
    sched.step()
    assert abs(opt.param_groups[0]["lr"] - 0.1) < 1e-9  # first of 10 warm-up steps
    for _ in range(20):
        sched.step()
    assert abs(opt.param_groups[0]["lr"] - 1.0) < 1e-9  # warmed up, no time gone
    now[0] = 1050.0
    sched.step()
    assert abs(opt.param_groups[0]["lr"] - 0.5) < 1e-9  # half the budget: half the rate
    now[0] = 1200.0
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.0 and sched.drops == 0
