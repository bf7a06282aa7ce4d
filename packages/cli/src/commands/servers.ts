import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { action } from '../context.js';
import { usageError } from '../exit-codes.js';
import { age, bytes, since } from '../output.js';
import { listAllServers, resolveServer } from '../servers.js';
import { ask, readStdinLine } from './prompt.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface AddOptions {
  name: string;
  host: string;
  port?: string;
  user: string;
  keyFile?: string;
  passwordStdin?: boolean;
  hostKey?: string;
  path?: string[];
  tag?: string[];
}

export function registerServers(program: Command): void {
  const servers = program.command('servers').description('the managed servers');

  servers
    .command('ls')
    .description('list servers with their last backup, scan and pending updates')
    .option('--tag <tag>', 'only servers with this tag')
    .action(
      action(async (ctx, opts: { tag?: string }) => {
        const api = await ctx.api();
        const all = await listAllServers(api, opts.tag);
        ctx.out.result(all, () =>
          ctx.out.table(
            ['ID', 'NAME', 'HOST', 'STATUS', 'LAST BACKUP', 'LAST SCAN', 'UPDATES', 'TAGS'],
            all.map((s) => [
              s.id,
              s.name,
              `${s.username}@${s.host}:${s.port}`,
              s.lastSeenStatus ?? 'unknown',
              s.summary.lastBackup ? `${age(s.summary.lastBackup.ageSeconds)} ago` : 'never',
              s.summary.lastScan ? `${s.summary.lastScan.status} ${since(s.summary.lastScan.finishedAt)} ago` : 'never',
              s.summary.upgradablePackages?.count ?? '-',
              s.tags.join(','),
            ]),
          ),
        );
      }),
    );

  servers
    .command('show')
    .description('one server with its summary')
    .argument('<server>', 'name or id')
    .action(
      action(async (ctx, ref: string) => {
        const api = await ctx.api();
        const { id } = await resolveServer(api, ref);
        const [server, summary] = await Promise.all([
          api.call(api.client.GET('/api/servers/{id}', { params: { path: { id } } })),
          api.call(api.client.GET('/api/servers/{id}/summary', { params: { path: { id } } })),
        ]);
        ctx.out.result({ ...server, summary }, () => {
          const { lastBackup, lastScan, lastUpdate, upgradablePackages } = summary;
          ctx.out.fields([
            ['id', server.id],
            ['name', server.name],
            ['address', `${server.username}@${server.host}:${server.port}`],
            ['auth', server.authType],
            ['host key', server.hostKeyFingerprint ?? 'not pinned yet (trust on first use)'],
            ['status', `${server.lastSeenStatus ?? 'unknown'}${server.lastSeenAt ? ` (${since(server.lastSeenAt)} ago)` : ''}`],
            ['backup paths', server.backupPaths.join(' ')],
            ['tags', server.tags.join(', ')],
            ['last backup', lastBackup ? `${lastBackup.backupType}, ${bytes(lastBackup.sizeBytes)}, ${age(lastBackup.ageSeconds)} ago (${lastBackup.id})` : 'never'],
            ['last scan', lastScan ? `${lastScan.type} ${lastScan.status} ${since(lastScan.finishedAt)} ago${lastScan.findings ? `, critical findings: ${lastScan.findings.critical}` : ''}` : 'never'],
            ['last update', lastUpdate ? `${lastUpdate.dryRun ? 'dry run ' : ''}${lastUpdate.status} ${since(lastUpdate.finishedAt)} ago${lastUpdate.rebootRequired ? ', reboot required' : ''}` : 'never'],
            ['upgradable', upgradablePackages ? `${upgradablePackages.count} packages (${upgradablePackages.source})` : '-'],
            ['next backup', summary.nextScheduledBackupAt ?? 'not scheduled'],
          ]);
        });
      }),
    );

  servers
    .command('add')
    .description('add a server (credentials go to the API encrypted and are never shown again)')
    .requiredOption('--name <name>', 'how operators call it')
    .requiredOption('--host <host>', 'hostname or IP address')
    .option('--port <port>', 'SSH port (default 22)')
    .requiredOption('--user <username>', 'SSH user')
    .option('--key-file <file>', 'private key file for SSH')
    .option('--password-stdin', 'read the SSH password from stdin (never an argument)')
    .option('--host-key <fingerprint>', 'pin the host key (SHA256:…); without it the first connection pins it')
    .option('--path <path>', 'a folder to back up (repeatable)', collect)
    .option('--tag <tag>', 'a tag (repeatable)', collect)
    .action(
      action(async (ctx, opts: AddOptions) => {
        if (Boolean(opts.keyFile) === Boolean(opts.passwordStdin)) throw usageError('Give exactly one of --key-file and --password-stdin.');
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && !Number.isInteger(port)) throw usageError(`--port "${opts.port}" is not a number.`);
        const auth = opts.keyFile
          ? { type: 'key' as const, privateKey: await readFile(opts.keyFile, 'utf8').catch(() => Promise.reject(usageError(`Cannot read ${opts.keyFile}.`))) }
          : { type: 'password' as const, password: process.stdin.isTTY ? await ask('SSH password: ', { secret: true }) : await readStdinLine() };
        const api = await ctx.api();
        const created = await api.call(
          api.client.POST('/api/servers', {
            body: {
              name: opts.name,
              host: opts.host,
              username: opts.user,
              auth,
              ...(port !== undefined ? { port } : {}),
              ...(opts.hostKey ? { hostKeyFingerprint: opts.hostKey } : {}),
              ...(opts.path ? { backupPaths: opts.path } : {}),
              ...(opts.tag ? { tags: opts.tag } : {}),
            },
          }),
        );
        ctx.out.result(created, () => ctx.out.line(`Server "${created.name}" added: ${created.id}`));
      }),
    );

  servers
    .command('rm')
    .description('delete a server and its records (refused while one of its jobs is queued or running)')
    .argument('<server>', 'name or id')
    .option('--yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .option('--delete-backups', "also delete the server's backups (files and snapshots); without it a server with backups is refused")
    .action(
      action(async (ctx, ref: string, opts: { yes?: boolean; deleteBackups?: boolean }) => {
        const api = await ctx.api();
        const server = await resolveServer(api, ref);
        if (!opts.yes) {
          if (!process.stdin.isTTY) throw usageError('Deleting a server needs --yes when stdin is not a terminal.');
          const what = opts.deleteBackups ? 'all its records and backups' : 'all its records';
          const answer = await ask(`Delete server "${server.name}" (${server.id}) and ${what}? Type its name to confirm: `);
          if (answer !== server.name) throw usageError('Not confirmed; nothing deleted.');
        }
        const query = opts.deleteBackups ? { deleteBackups: true } : {};
        const deleted = await api.call(api.client.DELETE('/api/servers/{id}', { params: { path: { id: server.id }, query } }));
        ctx.out.result(deleted, () =>
          'jobId' in deleted
            ? ctx.out.line(`Server "${server.name}" (${server.id}) is being deleted with its backups by job ${deleted.jobId}.`)
            : ctx.out.line(`Server "${server.name}" (${server.id}) deleted.`),
        );
      }),
    );
}
