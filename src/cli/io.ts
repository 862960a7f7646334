/** Output streams of a command, injectable so tests run commands in-process. */
export interface CommandIO {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  /** Whether progress lines should be shown (stderr is a terminal, or forced). */
  progress: boolean;
}

export const processIO: CommandIO = {
  stdout: (line) => process.stdout.write(line.endsWith('\n') ? line : `${line}\n`),
  stderr: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
  progress: true,
};

/** A CLI command: returns the exit code; throws a user-fixable WardenError (UsageError for a bad flag) for user mistakes. */
export type Command = (argv: string[], io: CommandIO) => Promise<number>;
