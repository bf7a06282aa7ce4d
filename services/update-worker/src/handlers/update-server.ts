import { Value } from '@sinclair/typebox/value';
import { UnrecoverableError } from 'bullmq';
import { UpdateProgress, type UpdatePayload } from '@mm/jobs';
import { shellQuote, type SshSession } from '@mm/ssh';
import { createJobOutput, type JobOutput, type JobContext } from '@mm/worker-runtime';
import { probeHost, type HostFacts } from '../host-probe.js';
import { parseNameVersionLines, type PackageManager } from '../package-managers/package-manager.js';
import { packageManagers } from '../package-managers/select.js';
import { assertPackageName } from '../package-name.js';
import { waitForMaintenanceWindow, type MaintenanceGateSettings } from '../maintenance-gate.js';
import { keepPendingUpdates } from '../pending-updates.js';
import { checkRebootRequired } from '../reboot-check.js';
import { DEFAULT_REBOOT_SETTINGS, rebootAndWait, type RebootSettings } from '../reboot.js';
import { UpdateResult, type ChangedPackage, type UpgradablePackage } from '../update-result.js';

const REFRESH_TIMEOUT_MS = 10 * 60_000;
const LIST_TIMEOUT_MS = 5 * 60_000;
// A large upgrade on a slow mirror takes long; the remote process is killed past this.
const UPGRADE_TIMEOUT_MS = 60 * 60_000;

// Steps inside the catalog's 40 (execution started) .. 80 (execution finished).
const INDEX_READY = 50;
const PACKAGES_LISTED = 60;

interface Run {
  session: SshSession;
  out: JobOutput;
  signal: AbortSignal | undefined;
}

/** Runs one command with its lines in the job log, prefixed by the command itself. */
async function run({ session, out, signal }: Run, command: string, timeoutMs: number) {
  out.line(`$ ${command}`);
  const res = await session.exec(command, { timeoutMs, signal, onStdoutLine: (l) => out.line(l), onStderrLine: (l) => out.line(`stderr: ${l}`) });
  await out.flush();
  return res;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ').slice(-400) || 'no output';
}

/** `sudo -n` in front when not root; null when root is out of reach. */
function rootPrefix(host: HostFacts): string[] | null {
  if (host.privilege === 'root') return [];
  if (host.privilege === 'sudo') return ['sudo', '-n'];
  return null;
}

function noRootReason(host: HostFacts): string {
  return host.privilege === 'sudo-missing' ? 'sudo is not installed' : 'sudo -n wants a password (or the user may not use sudo)';
}

export interface UpdateSettings extends MaintenanceGateSettings {
  /** How `reboot: "if-required"` reboots and waits; default DEFAULT_REBOOT_SETTINGS. */
  reboot?: RebootSettings;
}

/**
 * Lists upgradable packages and, unless it is a dry run, upgrades them (all, or only `packages`), then with
 * `reboot: "if-required"` reboots the server when it says it needs one and waits for it to come back (reboot.ts).
 * A dry run changes nothing on the server: without root it skips the index refresh (noted in the result)
 * and previews from the current index.
 */
export async function runUpdate(payload: UpdatePayload, ctx: JobContext<'update'>, settings: UpdateSettings = { recheckMs: 5 * 60_000 }): Promise<UpdateResult> {
  await waitForMaintenanceWindow(payload, ctx, settings);
  const rebootPolicy = payload.options.reboot ?? 'never';
  const { dry_run: dryRun } = payload.options;
  const requested = payload.options.packages?.length ? payload.options.packages.map(assertPackageName) : null;

  await ctx.progress(UpdateProgress.STARTED);
  const { server, target } = await ctx.loadServer(payload.serverId);
  const holds = new Set(server.packageHolds.map(assertPackageName));
  // A failed connection needs no record of its own here: the runtime creates it when it marks the job failed.
  const session = await ctx.connect(server, target);
  await ctx.progress(UpdateProgress.SERVER_VERIFIED);
  await ctx.record.start({ dryRun, packages: requested });
  await ctx.progress(UpdateProgress.RECORD_CREATED);

  const out = createJobOutput(ctx, UpdateProgress.RECORD_CREATED);
  const exec: Run = { session, out, signal: ctx.signal };
  try {
    const host = await probeHost(session, ctx.signal);
    if (!host.manager) throw new UnrecoverableError(`no supported package manager (apt, dnf, yum, apk) on ${server.name}`);
    const pm: PackageManager = packageManagers[host.manager];
    const prefix = rootPrefix(host);
    ctx.log.info({ serverId: server.id, packageManager: pm.name, privilege: host.privilege, dryRun }, 'update starting');
    if (!dryRun && prefix === null) {
      // Checked before anything runs, so a refused update has changed nothing.
      throw new UnrecoverableError(
        `update on ${server.name} needs root: connected as ${host.user} (uid ${host.uid}) and ${noRootReason(host)}. Connect as root or allow ${host.user} passwordless sudo.`,
      );
    }
    const asRoot = (argv: string[]) => [...(prefix ?? []), ...argv].map(shellQuote).join(' ');
    await ctx.progress(UpdateProgress.EXECUTION_STARTED);

    const notes: string[] = [];
    let refreshed = false;
    if (prefix === null) {
      notes.push(`package index not refreshed: ${host.user} is not root and ${noRootReason(host)}; listed from the current index`);
    } else {
      const res = await run(exec, asRoot(pm.refresh), REFRESH_TIMEOUT_MS);
      refreshed = res.code === 0;
      if (!refreshed && !dryRun) throw new Error(`${pm.name} index refresh failed on ${server.name} (exit ${res.code ?? res.signal}): ${tail(res.stderr)}`);
      if (!refreshed) notes.push(`package index refresh failed (exit ${res.code ?? res.signal}): ${tail(res.stderr)}; listed from the current index`);
    }
    await ctx.progress(INDEX_READY);

    const listed = await run(exec, pm.listUpgradable, LIST_TIMEOUT_MS);
    if (listed.code === null || !pm.listExitCodes.includes(listed.code)) {
      throw new Error(`listing upgradable packages failed on ${server.name} (exit ${listed.code ?? listed.signal}): ${tail(listed.stderr)}`);
    }
    const upgradable = pm.parseUpgradable(listed.stdout);
    const plan = planTargets(requested, upgradable, holds);
    const targets = plan.targets;
    if (plan.notUpgradable.length > 0) notes.push(`not upgradable (not installed or already current): ${plan.notUpgradable.join(', ')}`);
    if (plan.held.length > 0) notes.push(`held, not upgraded: ${plan.held.join(', ')}`);
    await ctx.progress(PACKAGES_LISTED);

    let changed: ChangedPackage[] = [];
    const nothingToDo = targets !== null ? targets.length === 0 : upgradable.length === 0;
    if (nothingToDo) {
      notes.push('nothing to upgrade');
    } else if (dryRun) {
      changed = await preview(exec, pm, targets, upgradable, server.name);
      const pulled = pm.excludes ? [] : changed.filter((c) => holds.has(c.name)).map((c) => c.name);
      if (pulled.length > 0) notes.push(`a real run would refuse: it would also upgrade held ${pulled.join(', ')} (pulled in as dependencies)`);
    } else {
      if (!pm.excludes && holds.size > 0) await refuseIfHeldPulled(exec, pm, targets, upgradable, holds, server.name);
      changed = await upgrade(exec, pm, asRoot, targets, upgradable, server.name, [...holds].sort());
    }
    await ctx.progress(UpdateProgress.EXECUTION_FINISHED);

    let rebootRequired = await checkRebootRequired(session, ctx.signal);
    let rebooted = false;
    if (rebootRequired === true && rebootPolicy === 'if-required') {
      if (dryRun) {
        notes.push('a reboot is required: a real run with reboot "if-required" would reboot the server');
      } else {
        ctx.log.info({ serverId: server.id, changed: changed.length }, 'update: rebooting the server');
        const outcome = await rebootAndWait(session, settings.reboot ?? DEFAULT_REBOOT_SETTINGS, (prefix ?? []).join(' '), server.name, ctx.signal, (l) => out.line(l));
        await out.flush();
        rebooted = true;
        notes.push(`rebooted: boot id ${outcome.bootIdBefore} -> ${outcome.bootIdAfter}`);
        // What the server says now: a kernel newer than the one just booted still asks for another.
        rebootRequired = await checkRebootRequired(session, ctx.signal);
      }
    }
    const result: UpdateResult = { packageManager: pm.name, dryRun, refreshed, upgradable, changed, held: plan.held, rebootRequired, rebooted, notes };
    const problem = Value.Errors(UpdateResult, result).First();
    // The handler builds the result, so a mismatch is a bug here, not a server problem: retrying would not help.
    if (problem) throw new UnrecoverableError(`update result does not match its schema at ${problem.path}: ${problem.message}`);
    // The typed column first (90); the full result lands with completion (100).
    await ctx.record.update({ rebootRequired });
    await keepPendingUpdates(ctx.db, server.id, result);
    await ctx.progress(UpdateProgress.RESULTS_STORED);
    await ctx.record.complete({ rebootRequired, result });
    await ctx.progress(UpdateProgress.DONE);
    ctx.log.info({ serverId: server.id, upgradable: upgradable.length, changed: changed.length, dryRun, rebootRequired, rebooted }, 'update done');
    return result;
  } finally {
    await out.flush().catch(() => {}); // a write error after a failed command must not hide the command's error
  }
}

/** What an upgrade would change, from the package manager's own simulation where it has one. */
async function preview(exec: Run, pm: PackageManager, targets: string[] | null, upgradable: UpgradablePackage[], serverName: string): Promise<ChangedPackage[]> {
  const command = pm.simulate(targets);
  if (command === null) {
    const wanted = targets ? new Set(targets) : null;
    return upgradable.filter((p) => !wanted || wanted.has(p.name)).map((p) => ({ name: p.name, from: p.current, to: p.candidate }));
  }
  const res = await run(exec, command, LIST_TIMEOUT_MS);
  if (res.code !== 0) throw new Error(`${pm.name} simulation failed on ${serverName} (exit ${res.code ?? res.signal}): ${tail(res.stderr)}`);
  return pm.parseSimulation(res.stdout);
}

/** Upgrades, then reads back the installed versions: `changed` is what actually moved. */
async function upgrade(
  exec: Run,
  pm: PackageManager,
  asRoot: (argv: string[]) => string,
  targets: string[] | null,
  upgradable: UpgradablePackage[],
  serverName: string,
  held: string[],
): Promise<ChangedPackage[]> {
  const res = await run(exec, asRoot(pm.upgrade(targets, held)), UPGRADE_TIMEOUT_MS);
  if (res.code !== 0) throw new Error(`${pm.name} upgrade failed on ${serverName} (exit ${res.code ?? res.signal}): ${tail(res.stderr)}`);
  // Every upgradable package, not only the targets: upgrading one can pull others along (curl brings libcurl4).
  const names = upgradable.map((p) => p.name);
  const after = parseNameVersionLines((await exec.session.exec(pm.installedVersions(names), { timeoutMs: LIST_TIMEOUT_MS, signal: exec.signal })).stdout);
  const before = new Map(upgradable.map((p) => [p.name, p.current]));
  return names.flatMap((name) => {
    const now = after.get(name);
    return now && now !== before.get(name) ? [{ name, from: before.get(name) ?? null, to: now }] : [];
  });
}

/**
 * What to upgrade: the requested packages (null: everything) minus the server's holds. With holds among the upgradable
 * packages, "everything" becomes the explicit list of the others, so the package manager is never asked for a held one.
 */
export function planTargets(
  requested: string[] | null,
  upgradable: UpgradablePackage[],
  holds: ReadonlySet<string>,
): { targets: string[] | null; held: string[]; notUpgradable: string[] } {
  const available = new Set(upgradable.map((p) => p.name));
  if (requested) {
    return {
      targets: requested.filter((name) => available.has(name) && !holds.has(name)),
      held: requested.filter((name) => holds.has(name)),
      notUpgradable: requested.filter((name) => !available.has(name) && !holds.has(name)),
    };
  }
  const held = upgradable.filter((p) => holds.has(p.name)).map((p) => p.name);
  return { targets: held.length > 0 ? upgradable.filter((p) => !holds.has(p.name)).map((p) => p.name) : null, held, notUpgradable: [] };
}

/**
 * apt and apk have no exclude option: upgrading a target can pull a held package along as a dependency. Their own
 * simulation (no root, no lock) says so before anything changes; such an update fails, naming the packages.
 */
async function refuseIfHeldPulled(exec: Run, pm: PackageManager, targets: string[] | null, upgradable: UpgradablePackage[], holds: ReadonlySet<string>, serverName: string): Promise<void> {
  const simulated = await preview(exec, pm, targets, upgradable, serverName);
  const pulled = simulated.filter((c) => holds.has(c.name)).map((c) => c.name);
  if (pulled.length > 0) {
    throw new UnrecoverableError(`update on ${serverName} refused: it would also upgrade held ${pulled.join(', ')} (pulled in as dependencies); nothing was changed`);
  }
}
