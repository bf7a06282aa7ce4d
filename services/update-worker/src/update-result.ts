import { Type, type Static } from '@sinclair/typebox';

export const UpgradablePackage = Type.Object({
  name: Type.String(),
  /** Installed version; null when the package manager did not say. */
  current: Type.Union([Type.String(), Type.Null()]),
  candidate: Type.String(),
  /** From a security suite (apt: `*-security`); absent where the package manager's list does not say (dnf, yum, apk). */
  security: Type.Optional(Type.Boolean()),
});
export type UpgradablePackage = Static<typeof UpgradablePackage>;

export const ChangedPackage = Type.Object({
  name: Type.String(),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.String(),
});
export type ChangedPackage = Static<typeof ChangedPackage>;

/** What an update stores in `updates.result`. In a dry run `changed` lists what would change. */
export const UpdateResult = Type.Object({
  packageManager: Type.Union([Type.Literal('apt'), Type.Literal('dnf'), Type.Literal('yum'), Type.Literal('apk')]),
  dryRun: Type.Boolean(),
  /** Whether the package index was refreshed first (needs root or passwordless sudo). */
  refreshed: Type.Boolean(),
  upgradable: Type.Array(UpgradablePackage),
  changed: Type.Array(ChangedPackage),
  /** Held packages (PUT /api/servers/:id/package-holds) this update would otherwise have upgraded: left as they are. Absent in results from before holds. */
  held: Type.Optional(Type.Array(Type.String())),
  /** After the update (and after the reboot when there was one): whether the server still needs a reboot. */
  rebootRequired: Type.Union([Type.Boolean(), Type.Null()]),
  /** With `reboot: "if-required"`: the server was rebooted and came back with a new boot id. Absent in results from before reboots. */
  rebooted: Type.Optional(Type.Boolean()),
  notes: Type.Array(Type.String()),
});
export type UpdateResult = Static<typeof UpdateResult>;
