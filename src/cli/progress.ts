/** A progress bar on stderr for long commands; plain lines every 10% when not a terminal. */
export function progressBar(label: string, total: number) {
  const tty = process.stderr.isTTY;
  let done = 0;
  let lastDecile = -1;
  const started = Date.now();
  const draw = () => {
    const ratio = total === 0 ? 1 : done / total;
    if (tty) {
      const width = 30;
      const filled = Math.round(ratio * width);
      process.stderr.write(
        `\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${Math.floor(ratio * 100)}% (${done}/${total})`,
      );
    } else if (Math.floor(ratio * 10) > lastDecile) {
      lastDecile = Math.floor(ratio * 10);
      process.stderr.write(`${label}: ${Math.floor(ratio * 100)}% (${done}/${total})\n`);
    }
  };
  draw();
  return {
    tick(count = 1) {
      done = Math.min(total, done + count);
      draw();
    },
    finish() {
      done = total;
      draw();
      if (tty) process.stderr.write(` ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    },
  };
}
