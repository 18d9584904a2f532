"""The simulated org: its queues, their media types, traffic shapes and listing entities."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from genesys_sim.config import SimConfig


@dataclass(frozen=True)
class MediaProfile:
    """Traffic shape and outcome rates of one media type (per queue of average size).

    Attributes:
        daily_offered: conversations offered per weekday to an average queue.
        business_share: share of the volume that follows business hours (the rest is flat).
        weekend: volume factor on Saturdays and Sundays.
        abandon: share of offered conversations abandoned.
        flowout: share of the not-abandoned ones that flow out of the queue.
        short_abandon: share of abandons that are short (under 10 s).
        voicemail: share of flow-outs that go to voicemail.
        over_sla: share of answered conversations answered after the service-level threshold.
        transfer: share of handled conversations transferred.
        blind: share of transfers that are blind (the rest are consult transfers).
        hold: share of handled conversations put on hold.
        decline: alerts declined or missed per answered conversation.
        outbound_daily: outbound conversations per weekday of an average queue.
        direct_daily: conversations per weekday that reach an agent without a queue (per org of 20 queues).
        sla_ms: service-level threshold.
        timers: mean durations in milliseconds, keyed by timer name.
    """

    daily_offered: float
    business_share: float
    weekend: float
    abandon: float
    flowout: float
    short_abandon: float
    voicemail: float
    over_sla: float
    transfer: float
    blind: float
    hold: float
    decline: float
    outbound_daily: float
    direct_daily: float
    sla_ms: int
    timers: Mapping[str, float]


# One row per media type, columns in MediaProfile field order up to sla_ms, then the mean durations
# (ms) of answer, abandon, flow-out, talk, after-call work and alert.
# fmt: off
_PROFILE_TABLE: dict[str, tuple[float, ...]] = {
    #          offered bus. wkend aband flow  short vmail overSla xfer blind hold decl outb direct sla_ms
    "voice":    (360, 0.85, 0.25, 0.07, 0.04, 0.3, 0.5, 0.18, 0.08, 0.4, 0.25, 0.05, 40, 60, 20_000,
                 24_000, 55_000, 150_000, 290_000, 40_000, 7_000),
    "chat":     (150, 0.80, 0.30, 0.05, 0.02, 0.4, 0.0, 0.12, 0.05, 0.5, 0.00, 0.08, 0, 20, 30_000,
                 35_000, 80_000, 120_000, 620_000, 30_000, 9_000),
    "email":    (80, 0.45, 0.60, 0.01, 0.03, 0.0, 0.0, 0.25, 0.04, 0.7, 0.00, 0.03, 12, 10, 86_400_000,
                 3_600_000, 1_800_000, 900_000, 400_000, 60_000, 15_000),
    "callback": (40, 0.90, 0.10, 0.03, 0.05, 0.2, 0.6, 0.20, 0.03, 0.4, 0.15, 0.04, 0, 0, 120_000,
                 180_000, 60_000, 240_000, 260_000, 45_000, 8_000),
    "message":  (120, 0.60, 0.50, 0.04, 0.02, 0.2, 0.0, 0.15, 0.05, 0.5, 0.00, 0.06, 8, 15, 300_000,
                 240_000, 400_000, 300_000, 480_000, 30_000, 12_000),
}
# fmt: on


def _profile(row: tuple[float, ...]) -> MediaProfile:
    rates, (answer, abandon, flowout, talk, acw, alert) = row[:15], row[15:]
    timers = {
        "answered": answer,
        "abandon": abandon,
        "short_abandon": 4_000.0,
        "flowout": flowout,
        "voicemail": 45_000.0,
        "alert": alert,
        "talk": talk,
        "held": 55_000.0,
        "acw": acw,
    }
    names = [f.name for f in fields(MediaProfile)][:15]
    values: dict[str, Any] = dict(zip(names, rates, strict=True))
    values["sla_ms"] = int(values["sla_ms"])
    return MediaProfile(**values, timers=timers)


MEDIA_PROFILES: dict[str, MediaProfile] = {media: _profile(row) for media, row in _PROFILE_TABLE.items()}
DEFAULT_MEDIA_PROFILE = MEDIA_PROFILES["chat"]

# Genesys names the voice settings of a queue "call" (mediaSettings.call).
MEDIA_SETTINGS_KEYS: dict[str, str] = {"voice": "call"}
MEDIA_SHARE: dict[str, float] = {"voice": 0.75, "chat": 0.5, "email": 0.45, "callback": 0.35, "message": 0.4}


def format_utc(moment: datetime) -> str:
    """Render an instant as Genesys renders result intervals: UTC, milliseconds, ``Z``.

    Args:
        moment: an aware instant.

    Returns:
        e.g. ``2026-11-24T05:00:00.000Z``.
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Queue:
    """One queue of the simulated org.

    Attributes:
        index: position in the data arrays.
        id: queue id (a UUID).
        name: display name (unique).
        division_id: id of its division.
        division_name: name of its division.
        date_created: creation instant.
        date_modified: last modification instant.
        member_count: number of members.
        media: media types with traffic.
        targets: service-level percentage per media type of the org.
        deleted: deleted queues are absent from the listing but present in the data.
    """

    index: int
    id: str
    name: str
    division_id: str
    division_name: str
    date_created: datetime
    date_modified: datetime
    member_count: int
    media: tuple[str, ...]
    targets: dict[str, float]
    deleted: bool

    def entity(self, media_types: Sequence[str]) -> dict[str, Any]:
        """Return the queue as ``GET /api/v2/routing/queues`` lists it.

        Args:
            media_types: the org's media types (every one has media settings).
        """
        media_settings: dict[str, Any] = {}
        for media in media_types:
            profile = MEDIA_PROFILES.get(media, DEFAULT_MEDIA_PROFILE)
            media_settings[MEDIA_SETTINGS_KEYS.get(media, media)] = {
                "alertingTimeoutSeconds": 8 if media == "voice" else 30,
                "serviceLevel": {"percentage": self.targets[media], "durationMs": profile.sla_ms},
            }
        return {
            "id": self.id,
            "name": self.name,
            "description": f"{self.name} queue",
            "division": {
                "id": self.division_id,
                "name": self.division_name,
                "selfUri": f"/api/v2/authorization/divisions/{self.division_id}",
            },
            "dateCreated": format_utc(self.date_created),
            "dateModified": format_utc(self.date_modified),
            "memberCount": self.member_count,
            "userMemberCount": self.member_count,
            "joinedMemberCount": max(0, self.member_count - 2),
            "mediaSettings": media_settings,
            "acwSettings": {"wrapupPrompt": "OPTIONAL", "timeoutMs": 30000},
            "skillEvaluationMethod": "BEST",
            "autoAnswerOnly": False,
            "enableTranscription": False,
            "selfUri": f"/api/v2/routing/queues/{self.id}",
        }


_DEPARTMENTS = (
    "Sales",
    "Support",
    "Billing",
    "Claims",
    "Retention",
    "Onboarding",
    "Technical Support",
    "Collections",
    "Renewals",
    "Returns",
    "Shipping",
    "Accounts",
    "Loyalty",
    "Partners",
    "Escalations",
    "Priority",
    "Warranty",
    "Orders",
    "Enterprise",
    "Payments",
)
_REGIONS = ("NA", "EMEA", "APAC", "LATAM", "UK", "DACH", "Nordics", "France", "Iberia", "ANZ")
_DIVISIONS = ("Home", "Customer Care", "Sales and Retention")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_queues(config: SimConfig) -> list[Queue]:
    """Create the org's queues, deterministically from ``config.seed``.

    Args:
        config: the simulator settings (seed, queues, deleted_queues, media_types).

    Returns:
        ``config.queues`` queues in data order; ``config.deleted_queues`` of them are deleted.
    """
    rng = random.Random(f"genesys-sim-org-{config.seed}")
    names = [f"{d} {r}" for d in _DEPARTMENTS for r in _REGIONS]
    rng.shuffle(names)
    divisions = [(_uuid(rng), name) for name in _DIVISIONS]
    deleted = set(rng.sample(range(config.queues), config.deleted_queues))
    queues = []
    for index in range(config.queues):
        name = names[index % len(names)]
        if index >= len(names):
            name = f"{name} {index // len(names) + 1}"
        if index == 0:
            media = tuple(config.media_types)  # every media type has at least one queue
        else:
            media = tuple(m for m in config.media_types if rng.random() < MEDIA_SHARE.get(m, 0.5))
            media = media or (config.media_types[0],)
        created = datetime(2023, 1, 2, 9, 0, tzinfo=UTC) + timedelta(
            days=rng.randint(0, 700), seconds=rng.randint(0, 36_000), milliseconds=rng.randint(0, 999)
        )
        modified = created + timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 36_000))
        division_id, division_name = divisions[rng.randrange(len(divisions))]
        queues.append(
            Queue(
                index=index,
                id=_uuid(rng),
                name=name,
                division_id=division_id,
                division_name=division_name,
                date_created=created,
                date_modified=modified,
                member_count=rng.randint(3, 60),
                media=media,
                targets={m: rng.choice((0.8, 0.8, 0.8, 0.85, 0.9, 0.75)) for m in config.media_types},
                deleted=index in deleted,
            )
        )
    return queues
