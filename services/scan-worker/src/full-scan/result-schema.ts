import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const Severity = Type.Union([Type.Literal('info'), Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')]);
export type Severity = Static<typeof Severity>;

export const Finding = Type.Object({
  severity: Severity,
  /** Stable machine-readable name, e.g. `disk-usage` or `ssh-root-login`. */
  code: Type.String(),
  message: Type.String(),
});
export type Finding = Static<typeof Finding>;

export const Disk = Type.Object({
  filesystem: Type.String(),
  mount: Type.String(),
  sizeBytes: Type.Integer({ minimum: 0 }),
  usedBytes: Type.Integer({ minimum: 0 }),
  availableBytes: Type.Integer({ minimum: 0 }),
  usedPercent: Type.Number({ minimum: 0 }),
});
export type Disk = Static<typeof Disk>;

export const ListeningPort = Type.Object({
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  address: Type.String(),
  port: Type.Integer({ minimum: 0, maximum: 65_535 }),
});
export type ListeningPort = Static<typeof ListeningPort>;

export const PackageManagerName = Type.Union([Type.Literal('apt'), Type.Literal('dpkg'), Type.Literal('dnf'), Type.Literal('yum'), Type.Literal('apk')]);

/**
 * What a full scan stores in `scans.result`. Every fact is null when it could not be read
 * (missing tool, needs root, not Linux); `notes` then says why. A null fact never fails the scan.
 */
export const FullScanResult = Type.Object({
  /** ISO 8601, when the script's output was parsed. */
  collectedAt: Type.String(),
  os: Nullable(Type.Object({ id: Type.String(), name: Type.String(), versionId: Nullable(Type.String()) })),
  kernel: Nullable(Type.Object({ release: Type.String(), machine: Type.String(), hostname: Type.String() })),
  uptime: Nullable(Type.Object({ seconds: Type.Number({ minimum: 0 }), load1: Type.Number(), load5: Type.Number(), load15: Type.Number() })),
  cpu: Nullable(Type.Object({ count: Type.Integer({ minimum: 1 }), available: Nullable(Type.Integer({ minimum: 1 })), model: Nullable(Type.String()) })),
  memory: Nullable(
    Type.Object({
      totalBytes: Type.Integer({ minimum: 0 }),
      availableBytes: Nullable(Type.Integer({ minimum: 0 })),
      swapTotalBytes: Nullable(Type.Integer({ minimum: 0 })),
      swapFreeBytes: Nullable(Type.Integer({ minimum: 0 })),
    }),
  ),
  disks: Nullable(Type.Array(Disk)),
  listeningPorts: Nullable(Type.Array(ListeningPort)),
  packages: Nullable(
    Type.Object({
      manager: PackageManagerName,
      installed: Nullable(Type.Integer({ minimum: 0 })),
      upgradable: Nullable(Type.Integer({ minimum: 0 })),
      /** Of the upgradable ones, from a security suite (apt) or advisory (dnf/yum); null where the manager cannot tell (apk). Absent in results from before. */
      security: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    }),
  ),
  failedUnits: Nullable(Type.Array(Type.String())),
  sshd: Nullable(
    Type.Object({
      source: Type.Union([Type.Literal('sshd -T'), Type.Literal('config files')]),
      permitRootLogin: Type.String(),
      passwordAuthentication: Type.String(),
    }),
  ),
  rebootRequired: Nullable(Type.Boolean()),
  notes: Type.Array(Type.String()),
  findings: Type.Array(Finding),
});
export type FullScanResult = Static<typeof FullScanResult>;
