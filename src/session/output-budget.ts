/**
 * A session's output budget (`limits.outputBudgetBytes`): the bytes of stdout, log messages,
 * tool arguments and tool results it produced or received, and its result. Once spent, the
 * session ends with OUTPUT_BUDGET_EXCEEDED whatever the sandbox says.
 */
export class OutputBudget {
  private used = 0;
  /** Set once the budget is exceeded: the failure the session ends with. */
  over: { code: string; message: string } | undefined;

  constructor(private readonly limit: number | undefined) {}

  /** Whether `bytes` more would fit. */
  fits(bytes: number): boolean {
    return this.limit === undefined || this.used + bytes <= this.limit;
  }

  failure(what: string): { code: string; message: string } {
    return {
      code: 'OUTPUT_BUDGET_EXCEEDED',
      message: `${what} would take the session's output past its budget of ${this.limit} bytes`,
    };
  }

  /** Counts `bytes`; false when they do not fit (then `over` is set) or the budget was exceeded before. */
  spend(bytes: number, what: string): boolean {
    if (this.over) return false;
    if (this.fits(bytes)) {
      this.used += bytes;
      return true;
    }
    this.over = this.failure(what);
    return false;
  }

  /** A re-run of the code counts from zero again. */
  reset(): void {
    this.used = 0;
  }
}
