import type { Command } from 'commander';
import { action } from '../context.js';
import { since } from '../output.js';

/** Overdue servers named under the tiles; the API names up to 100, `--json` has them all. */
const OVERDUE_SHOWN = 10;

export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('the fleet at a glance (GET /api/fleet/summary): online/offline, backups past their RPO, updates pending (security ones too), reboots, critical findings, fleet runs')
    .action(
      action(async (ctx) => {
        const api = await ctx.api();
        const summary = await api.call(api.client.GET('/api/fleet/summary'));
        ctx.out.result(summary, () => {
          const { servers, backups, scans, fleetRuns } = summary;
          ctx.out.fields([
            ['servers', servers.total],
            ['online', servers.online],
            ['offline', servers.offline],
            ['never seen', servers.unknown],
            ['backups overdue', `${backups.overdue} (of ${backups.serversWithSchedule} with a schedule)`],
            ['full-scanned', scans.fullScanned],
            ['updates pending', scans.withUpgradablePackages],
            ['security updates', scans.withSecurityUpdates],
            ['reboot required', scans.rebootRequired],
            ['critical findings', scans.withCriticalFindings],
            ['fleet runs', `${fleetRuns.running} running, ${fleetRuns.paused} paused, ${fleetRuns.failedLast7Days} failed in 7 days`],
          ]);
          if (backups.overdueServers.length === 0) return;
          ctx.out.line();
          ctx.out.table(
            ['OVERDUE SERVER', 'OVERDUE FOR', 'LAST BACKUP'],
            backups.overdueServers.slice(0, OVERDUE_SHOWN).map((s) => [s.name, since(s.overdueSince), s.lastSuccessfulBackupAt ? `${since(s.lastSuccessfulBackupAt)} ago` : 'never']),
          );
          const more = backups.overdue - Math.min(OVERDUE_SHOWN, backups.overdueServers.length);
          if (more > 0) ctx.out.line(`… and ${more} more (mm --json summary lists the first ${backups.overdueServers.length})`);
        });
      }),
    );
}
