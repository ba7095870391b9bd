/**
 * Parsers for flag values, given to commander (`.option(flags, text, parser)`
 * or `Option.argParser`). A bad value throws commander's InvalidArgumentError:
 * commander names the flag and the value, main.ts prints it as
 * `VALIDATION_FAILED`, and the exit code is 2, before the verb runs.
 */
import { InvalidArgumentError } from 'commander';

/** A whole number from `min` to `max` (digits only: "1e3", "0x10", " 7" and "" are refused). */
export const wholeNumber = (flag: string, min: number, max: number, what = 'a whole number') => (v: string): number => {
  const n = Number(v);
  if (!/^-?\d{1,15}$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${flag} takes ${what} from ${min} to ${max}.`);
  return n;
};

/** A TCP port; 0 asks the system for a free one. */
export const port = (flag: string) => wholeNumber(flag, 0, 65_535, 'a port number');

/** A number above 0, at most `max` (decimals allowed). */
export const positiveNumber = (flag: string, max: number) => (v: string): number => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0) || n > max) throw new InvalidArgumentError(`${flag} takes a number above 0, at most ${max}.`);
  return n;
};

/** A number from `min` to `max` (decimals allowed). */
export const numberFrom = (flag: string, min: number, max: number, what = 'a number') => (v: string): number => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n >= min && n <= max)) throw new InvalidArgumentError(`${flag} takes ${what} from ${min} to ${max}.`);
  return n;
};
