import type { Command } from 'commander';

/** Each command module registers itself on the program; main.ts lists the modules. */
export type RegisterCommand = (program: Command) => void;

/** Exit codes scripts can rely on (docs/api.md). */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  DENIED: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  UNAVAILABLE: 6,
  AUTH: 7,
} as const;
