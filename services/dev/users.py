"""The people of the development stack: one token each, named in DATA_DIR/dev.env as TOKEN_<KEY>.

A demo company with a head office in Tokyo and a branch in Osaka: sales at both (the
duplicate-approach alert needs two teams), CS, support and tech support, a sales manager and an
internal auditor.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Actor


@dataclass(frozen=True)
class DevUser:
    key: str  # TOKEN_<KEY> in dev.env
    role: str  # shared.auth.ROLES
    actor: Actor
    label: str  # what the printed block calls them


DEV_USERS: tuple[DevUser, ...] = (
    DevUser("sales", "sales", Actor(user="tanaka", team="本社営業1課", department="sales", site="東京本社"),
            "営業 (本社)"),
    DevUser("sales_branch", "sales", Actor(user="yamamoto", team="大阪支店営業課", department="sales", site="大阪支店"),
            "営業 (大阪支店)"),
    DevUser("cs", "cs", Actor(user="suzuki", team="CS1課", department="cs", site="東京本社"), "カスタマーサクセス"),
    DevUser("support", "support", Actor(user="sato", team="サポート1課", department="support", site="東京本社"),
            "サポート"),
    DevUser("tech", "support", Actor(user="kato", team="技術サポート課", department="tech", site="東京本社"),
            "技術サポート"),
    DevUser("manager", "manager", Actor(user="watanabe", team="営業企画部", department="sales", site="東京本社"),
            "営業マネージャー"),
    DevUser("auditor", "auditor", Actor(user="kobayashi", team="内部監査室", department="sales", site="東京本社"),
            "監査"),
)
