/**
 * Runs the scheduled jobs, off the request path: a timer (unref'd: it never keeps the process alive) starts a run
 * every interval, one run at a time per instance, each job's failure reported without stopping the others. Time
 * for the jobs' decisions comes from the injected clock; the timer only says when to look. `runNow` runs them at
 * once (after the run in progress), which is how tests move the clock and see what a run does.
 */

/** One job: runs to its end, or stops early once `signal` is aborted (shutdown). Resolves with a report. */
export interface ScheduledJob {
  readonly name: string;
  run(signal: AbortSignal): Promise<unknown>;
}

/** Each job's report, or the error it failed with. */
export type RunReport = Record<string, { ok: true; report: unknown; ms: number } | { ok: false; error: unknown }>;

export interface Scheduler {
  /** The jobs, in the order each run runs them. */
  readonly jobs: readonly ScheduledJob[];
  /** Starts the timer (idempotent; does nothing with an interval of 0). */
  start(): void;
  /** Runs every job now, after the run in progress if there is one. */
  runNow(): Promise<RunReport>;
  /** Stops the timer, asks a run in progress to stop, and waits for it (at most `closeWaitMs`). */
  close(): Promise<void>;
}

export interface SchedulerDeps {
  readonly jobs: readonly ScheduledJob[];
  /** Between the end of a run and the start of the next; 0: no timer. */
  readonly intervalMs: number;
  /** Before the first run (default: a minute, or the interval if shorter). */
  readonly firstRunMs?: number;
  /** How long `close` waits for a run in progress (default 5 s). */
  readonly closeWaitMs?: number;
  /** Told about each run that the timer started. */
  readonly onRun?: (report: RunReport) => void;
}

/** Creates the scheduler (stopped). */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  let started = false;

  async function runAll(): Promise<RunReport> {
    const report: RunReport = {};
    for (const job of deps.jobs) {
      if (abort.signal.aborted) break;
      const begun = performance.now();
      try {
        report[job.name] = { ok: true, report: await job.run(abort.signal), ms: Math.round(performance.now() - begun) };
      } catch (error) {
        report[job.name] = { ok: false, error };
      }
    }
    return report;
  }

  const runNow = () => {
    const run = tail.then(runAll, runAll);
    tail = run.catch(() => undefined);
    return run;
  };

  const schedule = (ms: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      void runNow().then((report) => {
        deps.onRun?.(report);
        schedule(deps.intervalMs);
      });
    }, ms);
    timer.unref();
  };

  return {
    jobs: deps.jobs,
    start() {
      if (started || deps.intervalMs === 0 || deps.jobs.length === 0) return;
      started = true;
      schedule(deps.firstRunMs ?? Math.min(60_000, deps.intervalMs));
    },
    runNow,
    async close() {
      abort.abort();
      clearTimeout(timer);
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([
        tail,
        new Promise((resolve) => {
          waited = setTimeout(resolve, deps.closeWaitMs ?? 5000);
          waited.unref();
        }),
      ]);
      clearTimeout(waited);
    },
  };
}
