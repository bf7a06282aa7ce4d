import { hostname } from 'node:os';
import type { Command } from 'commander';
import { Api } from '../api.js';
import { readConfig, writeConfig } from '../config.js';
import { action } from '../context.js';
import { usageError } from '../exit-codes.js';
import { ask, readStdinLine } from './prompt.js';

interface LoginOptions {
  url?: string;
  email?: string;
  passwordStdin?: boolean;
  tokenName?: string;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('log in with email and password; stores a new API token (mm_pat_…) in the config file, mode 0600')
    .option('--url <url>', 'the API, e.g. http://127.0.0.1:3000 (default: MM_URL, the stored one, or asked)')
    .option('--email <email>', 'asked when absent')
    .option('--password-stdin', 'read the password from stdin instead of asking (it is never an argument)')
    .option('--token-name <name>', 'the name of the API token created for this machine', `mm cli on ${hostname()}`)
    .action(
      action(async (ctx, opts: LoginOptions) => {
        const stored = await readConfig(ctx.env);
        const interactive = process.stdin.isTTY === true;
        const url = opts.url ?? ctx.env.MM_URL ?? stored.url ?? (interactive ? await ask('API URL: ') : '');
        if (!url || !URL.canParse(url)) throw usageError(`"${url}" is not a URL; give --url http://host:port.`);
        const email = opts.email ?? (interactive ? await ask('Email: ') : '');
        if (!email) throw usageError('Give --email (stdin is not a terminal to ask on).');
        const password = opts.passwordStdin || !interactive ? await readStdinLine() : await ask('Password: ', { secret: true });
        if (!password) throw usageError('No password given.');

        const anonymous = new Api({ url, token: undefined });
        const login = await anonymous.call(anonymous.client.POST('/api/auth/login', { body: { email, password } }));
        // The one-hour JWT only mints the long-lived token the CLI keeps: scripts must not break every hour.
        const session = new Api({ url, token: login.token });
        const created = await session.call(session.client.POST('/api/tokens', { body: { name: opts.tokenName ?? `mm cli on ${hostname()}` } }));
        const file = await writeConfig(ctx.env, { url, token: created.token, tokenId: created.id, email: login.user.email });
        ctx.out.result({ url, user: login.user, tokenId: created.id, configFile: file }, () => {
          ctx.out.line(`Logged in to ${url} as ${login.user.email} (${login.user.role}).`);
          ctx.out.line(`API token "${created.name}" (${created.id}) stored in ${file}.`);
        });
      }),
    );
}
