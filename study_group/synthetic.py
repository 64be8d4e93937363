"""Plausible made-up rosters (fictional names, example.org emails) for the benchmark, the
scale tests and the shipped sample, so no real person's data is ever needed to try the tools."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from study_group.roster import Person, Window

ZONES = (
    "Europe/London", "Europe/Berlin", "Europe/Warsaw", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Africa/Lagos", "Asia/Kolkata", "Asia/Singapore",
    "Australia/Sydney",
)  # fmt: skip
SAMPLE_ZONES = ("Europe/London", "Europe/Berlin", "Europe/Warsaw", "Africa/Lagos", "America/New_York", "Asia/Kolkata")
FIRST = (
    "Ada",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Femi",
    "Gita",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lena",
    "Mo",
    "Noor",
    "Oli",
    "Pia",
)
LAST = (
    "Abe",
    "Berg",
    "Costa",
    "Diaz",
    "Eze",
    "Fox",
    "Gupta",
    "Holm",
    "Ito",
    "Jansen",
    "Khan",
    "Lind",
    "Moreau",
    "Novak",
)


def synthetic_people(count: int, facilitators: int, seed: int = 0, zones: tuple[str, ...] = ZONES) -> list[Person]:
    rng = random.Random(seed)
    names = rng.sample([f"{first} {last}" for first in FIRST for last in LAST], min(count, len(FIRST) * len(LAST)))
    names += [f"Person {i}" for i in range(len(names), count)]  # unique names keep reports readable
    people = []
    for i in range(count):
        zone = rng.choice(zones)
        lead = i < facilitators  # facilitators offer more time, as they usually do
        evenings = rng.sample(range(5), rng.randint(4, 5) if lead else rng.randint(2, 4))
        windows = [Window(d, rng.choice((17, 18, 19)) * 60, rng.choice((21, 22)) * 60) for d in evenings]
        weekend = (5, 6) if lead else (rng.choice((5, 6)),) if rng.random() < 0.6 else ()
        windows += [Window(d, 9 * 60, (17 if lead else rng.choice((12, 13, 16))) * 60) for d in weekend]
        people.append(
            Person(
                name=names[i],
                email=f"person{i:03d}@example.org",
                timezone=zone,
                availability=tuple(sorted(windows, key=lambda w: (w.weekday, w.start))),
                experience=rng.choice(("beginner", "beginner", "intermediate", "advanced")),
                role="facilitator" if lead else "learner",
                pairing_opt_out=rng.random() < 0.1,
                followup_consent=rng.random() < 0.7,
            )
        )
    return people


def write_roster_csv(people: list[Person], path: Path) -> None:
    """The column names a Google Forms export would have."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["Timestamp", "Full name", "Email address", "Time zone", "Availability (local time)", "Experience",
             "Role", "Opt out of pair programming", "Consent to follow-up surveys"]
        )  # fmt: skip
        for p in people:
            slots = "; ".join(str(w) for w in p.availability)
            out.writerow(
                ["2026/11/20 10:00:00", p.name, p.email, p.timezone, slots, p.experience, p.role,
                 "yes" if p.pairing_opt_out else "no", "yes" if p.followup_consent else "no"]
            )  # fmt: skip
