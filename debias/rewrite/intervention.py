"""Which steps an intervention covers: a fraction of training resolved to the nearest checkpoint
step (a resumed run can only start where a checkpoint exists), or an explicit step."""

from __future__ import annotations

from debias.config import InterventionConfig, ScheduleConfig


def nearest_checkpoint(fraction: float, schedule: ScheduleConfig) -> int:
    """The checkpoint step nearest ``fraction * total_steps``; a tie goes to the earlier step (the
    longer intervention).

    Pythia (143,000 steps, a checkpoint every 1,000): 0.93 -> 133,000 and 0.79 -> 113,000.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction={fraction} must lie strictly between 0 and 1")
    target = fraction * schedule.total_steps
    steps = [s for s in schedule.checkpoint_steps() if 0 < s < schedule.total_steps]
    if not steps:
        raise ValueError(
            f"the schedule ({schedule.total_steps} steps, a checkpoint every "
            f"{schedule.checkpoint_interval}) has no checkpoint strictly inside the run"
        )
    return min(steps, key=lambda s: (abs(s - target), s))


def intervention_steps(cfg: InterventionConfig, schedule: ScheduleConfig) -> tuple[int, int]:
    """``(start_step, end_step)`` of an intervention or control arm: the steps the resumed run trains."""
    if cfg.start_step is not None:
        start = int(cfg.start_step)
    elif cfg.fraction is not None:
        start = nearest_checkpoint(cfg.fraction, schedule)
    else:
        raise ValueError(
            f"intervention {cfg.name!r} ({cfg.arm}) names no start: set intervention.fraction "
            "or intervention.start_step"
        )
    end = schedule.total_steps if cfg.end_step is None else int(cfg.end_step)
    return start, end


def intervention_problems(cfg: InterventionConfig, schedule: ScheduleConfig) -> list[str]:
    """Every problem of an intervention against its schedule (empty when it can run)."""
    out = cfg.problems() + schedule.problems()
    if out or cfg.arm == "baseline":
        return out
    start, end = intervention_steps(cfg, schedule)
    if start not in set(schedule.checkpoint_steps()):
        out.append(
            f"intervention.start_step={start} is not a checkpoint step of the schedule (a checkpoint every "
            f"{schedule.checkpoint_interval}); a resumed run must start from a saved checkpoint"
        )
    if not 0 < start < end:
        out.append(
            f"intervention steps {start}..{end} are empty; start_step must lie before end_step"
        )
    if end > schedule.total_steps:
        out.append(
            f"intervention.end_step={end} is beyond the schedule's {schedule.total_steps} steps"
        )
    return out
