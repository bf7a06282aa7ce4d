import type { Command } from 'commander';
import { action } from '../context.js';
import { usageError } from '../exit-codes.js';
import { since } from '../output.js';

const DURATION = /^(\d+)([hdw])$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `30d`, `12h`, `2w` from now, or an ISO 8601 date-time, as the API's expiresAt. */
export function parseExpiry(value: string, now = Date.now()): string {
  const relative = DURATION.exec(value);
  if (relative) return new Date(now + Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]).toISOString();
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw usageError(`--expires "${value}" is neither a duration (30d, 12h, 2w) nor an ISO date-time.`);
  return new Date(at).toISOString();
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('API tokens for scripts and CI');

  token
    .command('create')
    .description('create an API token; its secret is shown once')
    .requiredOption('--name <name>', 'what the token is for, e.g. "ci nightly backup"')
    .option('--role <role>', 'viewer, operator or admin; at most your own (default: your role)')
    .option('--expires <when>', 'a duration (30d, 12h, 2w) or an ISO date-time (default: never)')
    .action(
      action(async (ctx, opts: { name: string; role?: string; expires?: string }) => {
        if (opts.role && !['viewer', 'operator', 'admin'].includes(opts.role)) throw usageError(`--role must be viewer, operator or admin, not "${opts.role}".`);
        const api = await ctx.api();
        const created = await api.call(
          api.client.POST('/api/tokens', {
            body: {
              name: opts.name,
              ...(opts.role ? { role: opts.role as 'viewer' | 'operator' | 'admin' } : {}),
              ...(opts.expires ? { expiresAt: parseExpiry(opts.expires) } : {}),
            },
          }),
        );
        ctx.out.result(created, () => {
          ctx.out.line(created.token);
          ctx.out.note(`Token "${created.name}" (${created.id}, ${created.role}${created.expiresAt ? `, expires ${created.expiresAt}` : ''}) created. Its secret is shown only now.`);
        });
      }),
    );

  token
    .command('ls')
    .description('list your API tokens (admins: --all for everyone\'s)')
    .option('--all', "every user's tokens (admin)")
    .action(
      action(async (ctx, opts: { all?: boolean }) => {
        const api = await ctx.api();
        const tokens = await api.call(api.client.GET('/api/tokens', { params: { query: { limit: 100, offset: 0, all: opts.all === true } } }));
        ctx.out.result(tokens, () =>
          ctx.out.table(
            ['ID', 'NAME', 'ROLE', 'OWNER', 'CREATED', 'LAST USED', 'EXPIRES', 'STATUS'],
            tokens.map((t) => [
              t.id,
              t.name,
              t.role,
              t.userEmail,
              `${since(t.createdAt)} ago`,
              t.lastUsedAt ? `${since(t.lastUsedAt)} ago` : 'never',
              t.expiresAt ?? 'never',
              t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active',
            ]),
          ),
        );
      }),
    );

  token
    .command('revoke')
    .description('revoke an API token; every API process refuses it within a second')
    .argument('<id>', 'the token id (from `mm token ls`)')
    .action(
      action(async (ctx, id: string) => {
        const api = await ctx.api();
        const revoked = await api.call(api.client.DELETE('/api/tokens/{id}', { params: { path: { id } } }));
        ctx.out.result(revoked, () => ctx.out.line(`Token "${revoked.name}" (${revoked.id}) revoked.`));
      }),
    );
}
