import { createHash } from 'node:crypto';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';

// ssh2 is CommonJS whose exports Node cannot name statically (`Server: require(...)`): a named import fails outside vitest.
const { Server, utils } = ssh2;

/** One authentication attempt as the client sent it: what a hostile host learns. */
export interface RecordedAuth {
  method: string;
  username: string;
  /** Only for method 'password': the password the client disclosed. */
  password?: string;
  /** For method 'publickey': the key type offered. */
  keyType?: string;
}

/** What the server does with one exec request; it owns the channel (write, exit, end). */
export type HostileExec = (command: string, channel: ServerChannel) => void;

export interface HostileSshdOptions {
  /** Accept every authentication (default true), so a client goes on to run commands. */
  acceptAuth?: boolean;
  /** Exec behaviour; default: exit 0 with no output. */
  exec?: HostileExec;
}

/** A small SSH server in the test process that records what clients send and answers commands with whatever the test says. */
export interface HostileSshd {
  host: string;
  port: number;
  /** `SHA256:<base64, no padding>` of its host key, as a pin. */
  hostKeyFingerprint: string;
  /** Clients that reached it (counted when the client's SSH identification line arrives, before any authentication). */
  connections(): number;
  auths: RecordedAuth[];
  commands: string[];
  /** Replaces the exec behaviour for the following commands. */
  setExec(exec: HostileExec): void;
  stop(): Promise<void>;
}

/**
 * Writes `chunk` to the channel for as long as the client reads, until it closes the channel: a host that never stops
 * printing. Respects backpressure, so the server itself never buffers without bound.
 */
export function endlessOutput(chunk: string | Buffer, stream: 'stdout' | 'stderr' = 'stdout'): HostileExec {
  return (_command, channel) => {
    const target = stream === 'stdout' ? channel : channel.stderr;
    let open = true;
    channel.on('close', () => {
      open = false;
    });
    const pump = () => {
      while (open && target.write(chunk)) {
        /* keep writing until the window is full */
      }
      if (open) target.once('drain', pump);
    };
    pump();
  };
}

/** Prints `text` once, then exits with `code`. */
export function printThenExit(text: string | Buffer, code = 0): HostileExec {
  return (_command, channel) => {
    channel.write(text);
    channel.exit(code);
    channel.end();
  };
}

const exitQuietly: HostileExec = (_command, channel) => {
  channel.exit(0);
  channel.end();
};

export async function startHostileSshd(opts: HostileSshdOptions = {}): Promise<HostileSshd> {
  const keys = utils.generateKeyPairSync('ed25519');
  const parsed = utils.parseKey(keys.public);
  if (parsed instanceof Error) throw parsed;
  const blob = parsed.getPublicSSH();
  const hostKeyFingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  const auths: RecordedAuth[] = [];
  const commands: string[] = [];
  const clients = new Set<Connection>();
  let connectionCount = 0;
  let exec = opts.exec ?? exitQuietly;
  const acceptAuth = opts.acceptAuth ?? true;

  const server = new Server({ hostKeys: [keys.private] }, (client) => {
    connectionCount++;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => {});
    client.on('authentication', (ctx) => {
      const recorded: RecordedAuth = { method: ctx.method, username: ctx.username };
      if (ctx.method === 'password') recorded.password = ctx.password;
      if (ctx.method === 'publickey') recorded.keyType = ctx.key.algo;
      auths.push(recorded);
      // 'none' is refused so that a client goes on to disclose its password or key.
      if (acceptAuth && ctx.method !== 'none') ctx.accept();
      else ctx.reject(['password', 'publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (acceptExec, _reject, info) => {
          commands.push(info.command);
          const channel = acceptExec();
          channel.on('error', () => {});
          exec(info.command, channel);
        });
        session.on('signal', () => {});
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  let stopping: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    hostKeyFingerprint,
    connections: () => connectionCount,
    auths,
    commands,
    setExec(next) {
      exec = next;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        server.close(() => resolve());
      });
      return stopping;
    },
  };
}
