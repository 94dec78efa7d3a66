import {
  activeWarnMinutes,
  detailLines,
  dueNotifications,
  formatDuration,
  formatMemory,
  ISessionInfo,
  nextPollInterval,
  notificationMessage,
  parseSessionInfo,
  REARM_MARGIN_SECONDS,
  ruleBudget,
  secondsLeftAt,
  statusText,
  warningLevel
} from '../session';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** An answer as the server extension gives it inside a mybinder.org session. */
function answer(overrides: Partial<ISessionInfo> = {}): ISessionInfo {
  return parseSessionInfo({
    in_binder: true,
    reason: 'BINDER_REPO_URL is set',
    member: 'gesis',
    member_source: 'BINDERFED_MEMBER',
    federation: 'mybinder.org',
    repo_url: 'https://github.com/binder-examples/requirements',
    ref_url: 'https://github.com/binder-examples/requirements/tree/abc123',
    ref: 'abc123',
    persistent_link:
      'https://mybinder.org/v2/gh/binder-examples/requirements/abc123',
    launch_host: 'https://mybinder.org/',
    started: '2024-05-01T10:00:00Z',
    last_activity: '2024-05-01T10:30:00Z',
    now: '2024-05-01T10:31:00Z',
    idle_seconds_left: 3500,
    max_age_seconds_left: 2520,
    cpu_seconds_left: 5000,
    seconds_left: 2520,
    cull_reason: 'max-age',
    cull_window: 600,
    memory_used: 0.6 * GiB,
    memory_limit: 2 * GiB,
    memory_guarantee: 471859200,
    memory_source: 'cgroup',
    cpu_limit: 1,
    limits: { idle_timeout: 3600, max_age: 21600, cpu_seconds: 7200 },
    warn_memory_fraction: 0.8,
    warn_minutes: [10, 2],
    ...overrides
  });
}

describe('parseSessionInfo', () => {
  it('keeps the known fields of a full answer', () => {
    const info = answer();
    expect(info.member).toBe('gesis');
    expect(info.seconds_left).toBe(2520);
    expect(info.cull_reason).toBe('max-age');
    expect(info.warn_minutes).toEqual([10, 2]);
    expect(info.limits).toEqual({
      idle_timeout: 3600,
      max_age: 21600,
      cpu_seconds: 7200
    });
  });

  it('fills missing fields with null (an answer outside Binder)', () => {
    const info = parseSessionInfo({
      in_binder: false,
      reason: 'no BINDER_* variables'
    });
    expect(info.in_binder).toBe(false);
    expect(info.member).toBeNull();
    expect(info.seconds_left).toBeNull();
    expect(info.memory_limit).toBeNull();
    expect(info.warn_minutes).toBeNull();
  });

  it('drops values of the wrong type rather than trusting them', () => {
    const info = parseSessionInfo({
      in_binder: true,
      seconds_left: '42',
      cull_reason: 'reboot',
      warn_minutes: [10, 'x', 2],
      limits: [1, 2]
    });
    expect(info.seconds_left).toBeNull();
    expect(info.cull_reason).toBeNull();
    expect(info.warn_minutes).toEqual([10, 2]);
    expect(info.limits).toBeNull();
  });

  it('refuses what is not a session answer', () => {
    expect(() => parseSessionInfo(null)).toThrow(/not a JSON object/);
    expect(() => parseSessionInfo([])).toThrow(/not a JSON object/);
    expect(() => parseSessionInfo({ member: 'gesis' })).toThrow(/in_binder/);
  });
});

describe('formatting', () => {
  it('writes memory in the limit unit, GB as Binder states its limits', () => {
    expect(formatMemory(0.6 * GiB, 2 * GiB)).toBe('0.6 / 2.0 GB');
    expect(formatMemory(350 * MiB, 512 * MiB)).toBe('350 / 512 MB');
    expect(formatMemory(2147483648, 2147483648)).toBe('2.0 / 2.0 GB');
    expect(formatMemory(300 * MiB, null)).toBe('300 MB used');
    expect(formatMemory(null, 2 * GiB)).toBe('2.0 GB limit');
    expect(formatMemory(null, null)).toBe('');
  });

  it('rounds the time left down, never promising more than there is', () => {
    expect(formatDuration(2520)).toBe('42 min');
    expect(formatDuration(2579)).toBe('42 min');
    expect(formatDuration(59)).toBe('< 1 min');
    expect(formatDuration(-5)).toBe('< 1 min');
    expect(formatDuration(3 * 3600 + 5 * 60 + 30)).toBe('3 h 05 min');
    expect(formatDuration(3600)).toBe('1 h 00 min');
  });

  it('builds the status text: member · time left · memory', () => {
    expect(statusText(answer(), 2520)).toBe(
      'gesis · 42 min left · 0.6 / 2.0 GB'
    );
    expect(
      statusText(answer({ memory_used: null, memory_limit: null }), 90)
    ).toBe('gesis · 1 min left');
    expect(statusText(answer({ member: null }), null)).toBe(
      'Binder · 0.6 / 2.0 GB'
    );
  });

  it('explains repository, ref, member and why the session stops', () => {
    const lines = detailLines(answer({ cull_reason: 'max-age' }), 600);
    expect(lines[0]).toBe('Binder session on gesis of mybinder.org');
    expect(lines).toContain(
      'Repository: https://github.com/binder-examples/requirements'
    );
    expect(lines).toContain('Ref: abc123');
    expect(lines.join('\n')).toMatch(
      /Stops in about 10 min .*maximum session length/
    );
    expect(lines.join('\n')).toMatch(
      /Memory: 0.6 \/ 2.0 GB, 450 MB guaranteed/
    );
  });

  it('tells the user to save or download and how to relaunch', () => {
    const message = notificationMessage(answer(), 599.5);
    expect(message).toMatch(/stop in about 9 min/);
    expect(message).toMatch(/maximum session length/);
    expect(message).toMatch(/download/i);
    expect(message).toContain(
      'https://mybinder.org/v2/gh/binder-examples/requirements/abc123'
    );
    expect(notificationMessage(answer({ persistent_link: null }), 30)).toMatch(
      /about < 1 min/
    );
  });
});

describe('secondsLeftAt: the local countdown', () => {
  it('counts down from the answer, by the browser clock', () => {
    const info = answer({ seconds_left: 600 });
    expect(secondsLeftAt(info, 1_000_000, 1_000_000)).toBe(600);
    expect(secondsLeftAt(info, 1_000_000, 1_000_000 + 90_000)).toBe(510);
  });

  it('stops at zero and ignores a clock going backwards', () => {
    const info = answer({ seconds_left: 60 });
    expect(secondsLeftAt(info, 0, 3_600_000)).toBe(0);
    expect(secondsLeftAt(info, 10_000, 5_000)).toBe(60);
  });

  it('has nothing to count without a predicted stop', () => {
    expect(secondsLeftAt(answer({ seconds_left: null }), 0, 10_000)).toBeNull();
  });
});

describe('warningLevel', () => {
  it('is plain with time and memory to spare', () => {
    expect(warningLevel(answer(), 2520)).toBe('ok');
    expect(warningLevel(answer({ memory_limit: null }), null)).toBe('ok');
  });

  it('warns under 10 minutes, danger under 2', () => {
    expect(warningLevel(answer(), 600)).toBe('ok');
    expect(warningLevel(answer(), 599)).toBe('warn');
    expect(warningLevel(answer(), 119)).toBe('danger');
  });

  it('warns past warn_memory_fraction of the limit, danger past 95 %', () => {
    expect(warningLevel(answer({ memory_used: 0.79 * 2 * GiB }), 2520)).toBe(
      'ok'
    );
    expect(warningLevel(answer({ memory_used: 0.8 * 2 * GiB }), 2520)).toBe(
      'warn'
    );
    expect(warningLevel(answer({ memory_used: 0.96 * 2 * GiB }), 2520)).toBe(
      'danger'
    );
    expect(
      warningLevel(
        answer({ memory_used: 0.6 * 2 * GiB, warn_memory_fraction: 0.5 }),
        2520
      )
    ).toBe('warn');
  });

  it('follows the warn_minutes of the answer, defaults without them', () => {
    expect(warningLevel(answer({ warn_minutes: [30, 5] }), 1700)).toBe('warn');
    expect(warningLevel(answer({ warn_minutes: [30, 5] }), 200)).toBe('danger');
    expect(warningLevel(answer({ warn_minutes: [] }), 500)).toBe('warn');
  });

  it('leaves out thresholds the rule can never be above (mybinder.org idle: 10 min)', () => {
    const idle = answer({
      cull_reason: 'idle',
      idle_seconds_left: 590,
      seconds_left: 590,
      limits: { idle_timeout: 600, max_age: 21600 }
    });
    expect(ruleBudget(idle)).toBe(600);
    expect(activeWarnMinutes(idle)).toEqual([2]);
    // always under 10 min while activity keeps resetting it: no warning for that
    expect(warningLevel(idle, 590)).toBe('ok');
    // but 2 minutes from an idle stop is danger, as the server extension says
    expect(warningLevel(idle, 100)).toBe('danger');
    expect(statusText(idle, 590)).toBe(
      'gesis · 9 min left if idle · 0.6 / 2.0 GB'
    );
    expect(detailLines(idle, 590)).toContain(
      'Stops after 9 min without activity (up to 10 min later)'
    );
    // no limits known: every threshold applies
    expect(activeWarnMinutes(answer({ limits: null }))).toEqual([10, 2]);
  });

  it('is never raised outside Binder', () => {
    expect(warningLevel(answer({ in_binder: false }), 10)).toBe('ok');
  });
});

describe('dueNotifications', () => {
  const minutes = [10, 2];

  it('notifies each threshold once as the countdown crosses it', () => {
    let notified = new Set<number>();
    const seen: number[][] = [];
    for (const left of [900, 601, 600, 590, 300, 120, 60, 0]) {
      const result = dueNotifications(minutes, left, notified);
      notified = result.notified;
      seen.push(result.due);
    }
    expect(seen).toEqual([[], [], [10], [], [], [2], [], []]);
  });

  it('gives the most urgent first when several fall due at once', () => {
    const { due, notified } = dueNotifications(minutes, 60, new Set());
    expect(due).toEqual([2, 10]);
    expect([...notified].sort()).toEqual([10, 2].sort());
  });

  it('re-arms a threshold once the time left climbs well above it (activity)', () => {
    let state = dueNotifications(minutes, 500, new Set()).notified;
    // activity resets the idle timer, but not far enough above 10 min: no re-arm
    state = dueNotifications(
      minutes,
      600 + REARM_MARGIN_SECONDS,
      state
    ).notified;
    expect(dueNotifications(minutes, 550, state).due).toEqual([]);
    // well above: armed again, and notified again when crossed
    state = dueNotifications(minutes, 3000, state).notified;
    expect(state.size).toBe(0);
    expect(dueNotifications(minutes, 590, state).due).toEqual([10]);
  });

  it('notifies nothing without a predicted stop', () => {
    const { due } = dueNotifications(minutes, null, new Set());
    expect(due).toEqual([]);
  });
});

describe('nextPollInterval', () => {
  it('polls normally in a session and slowly outside one', () => {
    expect(nextPollInterval('session', 0)).toBe(30_000);
    expect(nextPollInterval('absent', 0)).toBe(900_000);
  });

  it('backs off 10 s doubling per error, bounded at 5 min', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 50, 10_000].map(n =>
      nextPollInterval('error', n)
    );
    expect(delays).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
      300_000
    ]);
  });
});
