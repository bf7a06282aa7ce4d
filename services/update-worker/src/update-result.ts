import { Type, type Static } from '@sinclair/typebox';

export const UpgradablePackage = Type.Object({
  name: Type.String(),
  /** Installed version; null when the package manager did not say. */
  current: Type.Union([Type.String(), Type.Null()]),
  candidate: Type.String(),
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
  rebootRequired: Type.Union([Type.Boolean(), Type.Null()]),
  notes: Type.Array(Type.String()),
});
export type UpdateResult = Static<typeof UpdateResult>;
