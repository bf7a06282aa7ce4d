// Guards for every value that reaches a remote shell. Commands are built only from constants and these.

/** POSIX single-quote quoting: the result is always exactly one shell word, whatever `arg` contains. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An absolute path without NUL, newline or carriage return; returns it unchanged. */
export function assertRemotePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw new Error('remote path must be a non-empty string');
  if (!path.startsWith('/')) throw new Error(`remote path must be absolute: ${JSON.stringify(path)}`);
  if (/[\0\n\r]/.test(path)) throw new Error(`remote path must not contain NUL, newline or carriage return: ${JSON.stringify(path)}`);
  return path;
}
