import { MultiBar, Presets } from 'cli-progress';
import type { Output } from './output.js';

/**
 * The terminal's bars (one per job, server or wave), 24 cells wide, labels padded to one width. `format` names the
 * payload fields each bar shows after its percentage, e.g. `{label} |{bar}| {percentage}% {milestone}`.
 * Callers draw a frame per change themselves (`update()`); the 100 ms redraw tick only repaints.
 */
export function createMultiBar(out: Output, format: string): MultiBar {
  return new MultiBar(
    {
      format,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      stream: out.stdout,
      // Redrawn even when the percentage stays, so a new milestone name shows at once.
      forceRedraw: true,
    },
    Presets.shades_classic,
  );
}
