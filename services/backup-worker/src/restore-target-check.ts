import { UnrecoverableError } from 'bullmq';
import { shellQuote, type SshSession } from '@mm/ssh';

/*
 * Run on the server before anything is extracted (issue #12): the target and every folder above it must be real
 * folders (a symlink could redirect the extraction), owned by root or the SSH user (another owner could rename a
 * component under us), and none world-writable without the sticky bit (anyone could swap a component for a symlink
 * between this check and tar). /tmp (root, 1777) passes: the sticky bit stops others renaming what we create in it.
 * Exit 3 names the component.
 */
const SCRIPT = `t=$1; uid=$(id -u); p=''
set -f; IFS=/
for c in $t; do
  [ -z "$c" ] && continue
  p="$p/$c"
  if [ -L "$p" ]; then echo "is a symbolic link: $p"; exit 3; fi
  [ -e "$p" ] || exit 0
  if [ ! -d "$p" ]; then echo "is not a folder: $p"; exit 3; fi
  m=$(stat -c %a "$p") || exit 4; o=$(stat -c %u "$p") || exit 4
  if [ "$o" != 0 ] && [ "$o" != "$uid" ]; then echo "is owned by another user (uid $o): $p"; exit 3; fi
  case $m in
    1???|3???|5???|7???) ;;
    *[2367]) echo "is world-writable without the sticky bit: $p"; exit 3;;
  esac
done
exit 0`;

/** Refuses (unrecoverably, with the reason) a restore target that a symlink or another local user could redirect. */
export async function assertSafeRestoreTarget(session: SshSession, targetPath: string, signal: AbortSignal | undefined): Promise<void> {
  const { code, stdout, stderr } = await session.exec(`sh -c ${shellQuote(SCRIPT)} sh ${shellQuote(targetPath)}`, { timeoutMs: 30_000, signal });
  if (code === 0) return;
  if (code === 3) throw new UnrecoverableError(`restore refused: a folder on the way to ${targetPath} ${stdout.trim().slice(0, 500) || 'is unsafe'}; nothing was extracted`);
  throw new UnrecoverableError(`restore refused: could not check the target ${targetPath} on the server (exit ${code}): ${stderr.trim().slice(0, 300)}`);
}
