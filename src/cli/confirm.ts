// Asking the person at the terminal before an action they cannot take back.
import { createInterface } from 'node:readline';

/** A person is there to answer: standard input is a terminal (a script's is a pipe or a file). */
export function interactive(): boolean {
  return process.stdin.isTTY;
}

/**
 * Shows `question` on stderr (stdout stays the command's output) and reads one line: true only
 * for y or yes. Anything else, an empty line or the end of input, is no.
 */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string | null>((resolve) => {
      rl.once('close', () => {
        resolve(null);
      });
      rl.question(question, resolve);
    });
    return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
