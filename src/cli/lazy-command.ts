import type { Command } from './command.js';

/**
 * A command known by its name and summary only, whose module is loaded when it runs: `tessera --help`, `tessera
 * version` and usage errors then cost no grpc-js, proto or crypto loading (src/cli/main.ts lists every command this
 * way). test/cli/cli.test.ts checks that each loaded command has the name and summary given here.
 */
export interface LazyCommand extends Command {
  /** Loads the command's module (cached by the module system). */
  load(): Promise<Command>;
}

export function lazyCommand(name: string, summary: string, load: () => Promise<Command>): LazyCommand {
  return { name, summary, load, run: async (args, io) => (await load()).run(args, io) };
}
