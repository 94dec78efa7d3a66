/**
 * The session model: what the server extension answers and the pure logic built on it.
 *
 * No JupyterLab import here on purpose: everything in this module is plain data in, plain
 * data out, so that jest can test it without a browser or a running JupyterLab.
 */

/**
 * Why the session will be stopped first, as predicted by the server extension.
 */
export type CullReason = 'idle' | 'max-age' | 'cpu';

/**
 * The answer of `GET <baseUrl>binderfed/session` (served by the `binderfed_jupyter`
 * server extension). Times are ISO 8601 strings, durations seconds, memory bytes.
 */
export interface ISessionInfo {
  /** Whether this Jupyter server runs inside a Binder session. */
  in_binder: boolean;
  /** Why the server thinks it is (or is not) in a Binder session. */
  reason: string | null;
  /** The federation member serving the session, e.g. `gesis`. */
  member: string | null;
  /** Where the member name comes from (an environment variable, the launch host...). */
  member_source: string | null;
  /** The federation, e.g. `mybinder.org`. */
  federation: string | null;
  repo_url: string | null;
  ref_url: string | null;
  ref: string | null;
  /** A link that launches the same repository at the same ref again. */
  persistent_link: string | null;
  launch_host: string | null;
  started: string | null;
  last_activity: string | null;
  /** The server's clock when it answered. */
  now: string | null;
  idle_seconds_left: number | null;
  max_age_seconds_left: number | null;
  cpu_seconds_left: number | null;
  /** The smallest of the three above: when the session is predicted to stop. */
  seconds_left: number | null;
  cull_reason: CullReason | null;
  /** How often the culler runs: the stop happens up to this many seconds late. */
  cull_window: number | null;
  memory_used: number | null;
  memory_limit: number | null;
  memory_guarantee: number | null;
  memory_source: string | null;
  cpu_limit: number | null;
  limits: { [key: string]: unknown } | null;
  /** Memory use (fraction of the limit) past which the item shows a warning. */
  warn_memory_fraction: number | null;
  /** Minutes before the predicted stop at which the user is notified. */
  warn_minutes: number[] | null;
}

/** The defaults used when the answer leaves the warning settings out. */
export const DEFAULT_WARN_MEMORY_FRACTION = 0.8;
export const DEFAULT_WARN_MINUTES: readonly number[] = [10, 2];
/** Memory use (fraction of the limit) past which the item turns red. */
export const DANGER_MEMORY_FRACTION = 0.95;

/** How the status item looks: plain, warning (amber) or danger (red). */
export type WarningLevel = 'ok' | 'warn' | 'danger';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Check the shape of a decoded answer: an object with a boolean `in_binder`. Fields the
 * front end does not know are kept, missing optional fields become `null`.
 */
export function parseSessionInfo(data: unknown): ISessionInfo {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error('binderfed: the session answer is not a JSON object');
  }
  const raw = data as { [key: string]: unknown };
  if (typeof raw.in_binder !== 'boolean') {
    throw new Error('binderfed: the session answer has no boolean in_binder');
  }
  const str = (key: string): string | null =>
    typeof raw[key] === 'string' ? (raw[key] as string) : null;
  const num = (key: string): number | null =>
    isNumber(raw[key]) ? (raw[key] as number) : null;
  const reason = raw.cull_reason;
  const warnMinutes = Array.isArray(raw.warn_minutes)
    ? raw.warn_minutes.filter(isNumber)
    : null;
  const limits =
    typeof raw.limits === 'object' &&
    raw.limits !== null &&
    !Array.isArray(raw.limits)
      ? (raw.limits as { [key: string]: unknown })
      : null;
  return {
    in_binder: raw.in_binder,
    reason: str('reason'),
    member: str('member'),
    member_source: str('member_source'),
    federation: str('federation'),
    repo_url: str('repo_url'),
    ref_url: str('ref_url'),
    ref: str('ref'),
    persistent_link: str('persistent_link'),
    launch_host: str('launch_host'),
    started: str('started'),
    last_activity: str('last_activity'),
    now: str('now'),
    idle_seconds_left: num('idle_seconds_left'),
    max_age_seconds_left: num('max_age_seconds_left'),
    cpu_seconds_left: num('cpu_seconds_left'),
    seconds_left: num('seconds_left'),
    cull_reason:
      reason === 'idle' || reason === 'max-age' || reason === 'cpu'
        ? reason
        : null,
    cull_window: num('cull_window'),
    memory_used: num('memory_used'),
    memory_limit: num('memory_limit'),
    memory_guarantee: num('memory_guarantee'),
    memory_source: str('memory_source'),
    cpu_limit: num('cpu_limit'),
    limits,
    warn_memory_fraction: num('warn_memory_fraction'),
    warn_minutes: warnMinutes
  };
}

/**
 * Format memory as Binder states its limits: binary units written `GB`/`MB` (a 2 GiB
 * limit reads `2.0 GB`). With a limit, both figures share the limit's unit:
 * `0.6 / 2.0 GB`, `350 / 512 MB`.
 */
export function formatMemory(
  used: number | null,
  limit: number | null
): string {
  if (used === null && limit === null) {
    return '';
  }
  const reference = limit ?? used ?? 0;
  const inGiB = reference >= GiB;
  const unit = inGiB ? 'GB' : 'MB';
  const scale = (bytes: number): string =>
    inGiB ? (bytes / GiB).toFixed(1) : Math.round(bytes / MiB).toString();
  if (limit === null) {
    return `${scale(used ?? 0)} ${unit} used`;
  }
  if (used === null) {
    return `${scale(limit)} ${unit} limit`;
  }
  return `${scale(used)} / ${scale(limit)} ${unit}`;
}

/** Format one amount of memory on its own: `471 MB`, `2.0 GB`. */
export function formatBytes(bytes: number): string {
  return formatMemory(bytes, null).replace(/ used$/, '');
}

/**
 * Format the time left before the predicted stop: `3 h 05 min`, `42 min`, `< 1 min`.
 * Minutes are rounded down, so the figure never promises more time than there is.
 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 60) {
    return '< 1 min';
  }
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} h ${rest.toString().padStart(2, '0')} min`;
}

/**
 * The seconds left at `nowMs`, counted down locally from the last answer, received at
 * `receivedAtMs` (the browser's clock: no skew against the server's). Null when the server
 * predicts no stop.
 */
export function secondsLeftAt(
  info: ISessionInfo,
  receivedAtMs: number,
  nowMs: number
): number | null {
  if (info.seconds_left === null) {
    return null;
  }
  const elapsed = Math.max(0, (nowMs - receivedAtMs) / 1000);
  return Math.max(0, info.seconds_left - elapsed);
}

/** The fraction of the memory limit in use, or null without both figures. */
export function memoryFraction(info: ISessionInfo): number | null {
  if (
    info.memory_used === null ||
    info.memory_limit === null ||
    info.memory_limit <= 0
  ) {
    return null;
  }
  return info.memory_used / info.memory_limit;
}

/** The notification thresholds (minutes) of an answer, the defaults if it has none. */
export function warnMinutesOf(info: ISessionInfo): number[] {
  const minutes = (info.warn_minutes ?? []).filter(m => m > 0);
  return minutes.length > 0 ? minutes : [...DEFAULT_WARN_MINUTES];
}

/** The `limits` field naming the full length of each culling rule. */
const RULE_LIMIT: { [reason in CullReason]: string } = {
  idle: 'idle_timeout',
  'max-age': 'max_age',
  cpu: 'cpu_seconds'
};

/**
 * The full length (seconds) of the rule predicted to stop the session: the idle timeout,
 * the maximum age or the CPU budget, from `limits`; null when unknown.
 */
export function ruleBudget(info: ISessionInfo): number | null {
  if (info.cull_reason === null || info.limits === null) {
    return null;
  }
  const value = info.limits[RULE_LIMIT[info.cull_reason]];
  return isNumber(value) && value > 0 ? value : null;
}

/**
 * The thresholds (minutes, largest first) that apply to the rule predicted to stop the
 * session, each with its level: the largest warns, the smallest is danger. A threshold at
 * or above the rule's full length is left out, as the server extension does: it would
 * always be on. On mybinder.org the idle timeout is 10 minutes, so the idle time left is
 * always under 10 minutes (and reset by any activity): only the 2-minute threshold applies.
 */
export function activeThresholds(
  info: ISessionInfo
): { minutes: number; level: WarningLevel }[] {
  const sorted = [...new Set(warnMinutesOf(info))].sort((a, b) => b - a);
  const budget = ruleBudget(info);
  return sorted
    .map((minutes, index) => ({
      minutes,
      level: (index === sorted.length - 1 && sorted.length > 1
        ? 'danger'
        : 'warn') as WarningLevel
    }))
    .filter(({ minutes }) => budget === null || minutes * 60 < budget);
}

/** The notification thresholds (minutes) that apply now (see `activeThresholds`). */
export function activeWarnMinutes(info: ISessionInfo): number[] {
  return activeThresholds(info).map(({ minutes }) => minutes);
}

const LEVEL_ORDER: WarningLevel[] = ['ok', 'warn', 'danger'];

function worst(a: WarningLevel, b: WarningLevel): WarningLevel {
  return LEVEL_ORDER.indexOf(a) >= LEVEL_ORDER.indexOf(b) ? a : b;
}

/** The level for the time left: the level of the smallest threshold it is under. */
export function timeLevel(
  info: ISessionInfo,
  secondsLeft: number | null
): WarningLevel {
  let level: WarningLevel = 'ok';
  if (secondsLeft === null) {
    return level;
  }
  for (const threshold of activeThresholds(info)) {
    if (secondsLeft < threshold.minutes * 60) {
      level = worst(level, threshold.level);
    }
  }
  return level;
}

/**
 * The level for memory: warning from `warn_memory_fraction` of the limit, danger from 95 %
 * (the kernel is killed at the limit).
 */
export function memoryLevel(info: ISessionInfo): WarningLevel {
  const fraction = memoryFraction(info);
  if (fraction === null) {
    return 'ok';
  }
  const warnFraction =
    info.warn_memory_fraction ?? DEFAULT_WARN_MEMORY_FRACTION;
  if (fraction >= Math.max(warnFraction, DANGER_MEMORY_FRACTION)) {
    return 'danger';
  }
  return fraction >= warnFraction ? 'warn' : 'ok';
}

/**
 * Decide how the item looks: the worse of the time level (under 10 minutes left: warning,
 * under 2: danger, for the thresholds that apply to the rule) and the memory level.
 */
export function warningLevel(
  info: ISessionInfo,
  secondsLeft: number | null
): WarningLevel {
  if (!info.in_binder) {
    return 'ok';
  }
  return worst(timeLevel(info, secondsLeft), memoryLevel(info));
}

/**
 * Which notifications are due: the thresholds (minutes) at or below which the time left
 * has fallen, that were not yet notified. Thresholds already notified are re-armed when
 * the time left climbs back well above them (activity resets the idle timer); the returned
 * `notified` is the new set to keep.
 *
 * Several thresholds can fall due at once (a session first seen with 1 minute left): the
 * caller shows one notification, for the most urgent (`due[0]`, the smallest).
 */
export function dueNotifications(
  warnMinutes: readonly number[],
  secondsLeft: number | null,
  notified: ReadonlySet<number>
): { due: number[]; notified: Set<number> } {
  const next = new Set(notified);
  if (secondsLeft === null) {
    return { due: [], notified: next };
  }
  const due: number[] = [];
  for (const minutes of warnMinutes) {
    const threshold = minutes * 60;
    if (secondsLeft <= threshold) {
      if (!next.has(minutes)) {
        due.push(minutes);
        next.add(minutes);
      }
    } else if (secondsLeft > threshold + REARM_MARGIN_SECONDS) {
      next.delete(minutes);
    }
  }
  due.sort((a, b) => a - b);
  return { due, notified: next };
}

/** How far above a threshold the time left must climb before it is notified again. */
export const REARM_MARGIN_SECONDS = 120;

/** Why the session will stop, in words. */
export function stopReasonText(info: ISessionInfo): string {
  switch (info.cull_reason) {
    case 'idle': {
      return 'it has been idle too long (no activity in the notebooks or terminals)';
    }
    case 'max-age': {
      return 'it reaches the maximum session length';
    }
    case 'cpu': {
      return 'it has used up its CPU time';
    }
    default: {
      return 'no stop is predicted';
    }
  }
}

/**
 * The status-bar text: `gesis · 42 min left · 0.6 / 2.0 GB`. Parts the answer lacks are
 * left out.
 */
export function statusText(
  info: ISessionInfo,
  secondsLeft: number | null
): string {
  const parts = [info.member ?? 'Binder'];
  if (secondsLeft !== null) {
    const idle = info.cull_reason === 'idle' ? ' if idle' : '';
    parts.push(`${formatDuration(secondsLeft)} left${idle}`);
  }
  const memory = formatMemory(info.memory_used, info.memory_limit);
  if (memory) {
    parts.push(memory);
  }
  return parts.join(' · ');
}

/** The detail lines (hover title and popup): repository, ref, member, why it stops. */
export function detailLines(
  info: ISessionInfo,
  secondsLeft: number | null
): string[] {
  const member = info.member ?? 'unknown member';
  const federation = info.federation ? ` of ${info.federation}` : '';
  const lines = [`Binder session on ${member}${federation}`];
  if (info.repo_url) {
    lines.push(`Repository: ${info.repo_url}`);
  }
  if (info.ref) {
    lines.push(`Ref: ${info.ref}`);
  }
  if (secondsLeft !== null) {
    const late =
      info.cull_window !== null && info.cull_window > 0
        ? ` (up to ${formatDuration(info.cull_window)} later)`
        : '';
    lines.push(
      info.cull_reason === 'idle'
        ? `Stops after ${formatDuration(secondsLeft)} without activity${late}`
        : `Stops in about ${formatDuration(secondsLeft)}${late}: ${stopReasonText(info)}`
    );
  } else {
    lines.push('No stop predicted');
  }
  const clocks: [string, number | null][] = [
    ['Idle limit', info.idle_seconds_left],
    ['Session age limit', info.max_age_seconds_left],
    ['CPU time', info.cpu_seconds_left]
  ];
  const known = clocks.filter(([, left]) => left !== null);
  if (known.length > 1) {
    lines.push(
      known
        .map(([name, left]) => `${name}: ${formatDuration(left ?? 0)} left`)
        .join(', ')
    );
  }
  const memory = formatMemory(info.memory_used, info.memory_limit);
  if (memory) {
    const guarantee =
      info.memory_guarantee !== null
        ? `, ${formatBytes(info.memory_guarantee)} guaranteed`
        : '';
    lines.push(`Memory: ${memory}${guarantee}`);
  }
  if (info.cpu_limit !== null) {
    lines.push(`CPU limit: ${info.cpu_limit}`);
  }
  return lines;
}

/** The notification text: when and why it stops, save or download, relaunch with the link. */
export function notificationMessage(
  info: ISessionInfo,
  secondsLeft: number
): string {
  const member = info.member ? ` on ${info.member}` : '';
  const link = info.persistent_link
    ? ` The persistent link relaunches this repository: ${info.persistent_link}`
    : '';
  return (
    `This Binder session${member} will stop in about ${formatDuration(secondsLeft)}: ` +
    `${stopReasonText(info)}. Nothing is kept. Save your work and download it ` +
    `(File > Download) or push it to a repository.${link}`
  );
}

/** The settings of the poll. */
export interface IPollSettings {
  /** Normal interval in a Binder session (ms). */
  interval: number;
  /** First interval after an error (ms); doubles after each further error. */
  errorInterval: number;
  /** Bound of the error backoff (ms). */
  maxErrorInterval: number;
  /** Interval outside a Binder session or without the endpoint (ms). */
  absentInterval: number;
}

export const DEFAULT_POLL: IPollSettings = {
  interval: 30_000,
  errorInterval: 10_000,
  maxErrorInterval: 300_000,
  absentInterval: 900_000
};

/** The outcome of one poll. */
export type PollOutcome = 'session' | 'absent' | 'error';

/**
 * The delay before the next poll: the normal interval after an answer, slow outside Binder
 * (or without the endpoint), 10 s doubling per consecutive error up to 5 min otherwise.
 */
export function nextPollInterval(
  outcome: PollOutcome,
  consecutiveErrors: number,
  settings: IPollSettings = DEFAULT_POLL
): number {
  switch (outcome) {
    case 'session': {
      return settings.interval;
    }
    case 'absent': {
      return settings.absentInterval;
    }
    case 'error': {
      const doublings = Math.max(0, consecutiveErrors - 1);
      return Math.min(
        settings.maxErrorInterval,
        settings.errorInterval * 2 ** Math.min(doublings, 30)
      );
    }
  }
}
