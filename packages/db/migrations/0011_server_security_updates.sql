-- The last full scan's count of pending security updates (apt: upgradable from a *-security suite; dnf/yum: updateinfo
-- --security), beside upgradable_packages, for GET /api/fleet/summary. Null until a full scan that could tell ran.
ALTER TABLE "servers" ADD COLUMN "security_updates" integer;
