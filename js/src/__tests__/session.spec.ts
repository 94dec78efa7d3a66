import {
  dueNotifications,
  formatDuration,
  ISessionInfo,
  liveLevel,
  nextPollInterval,
  parseSessionInfo,
  REARM_MARGIN_SECONDS,
  secondsLeftAt,
  statusView,
  warnMinutesOf
} from '../session';

// Both made by the Python side (tests/ts_fixtures.py; tests/test_display.py fails when they
// are stale): the formatter's words, and the server extension's answers.
import durationVectors from './duration-vectors.json';
import answers from './session-answers.json';

type AnswerName = keyof typeof answers;

function answer(
  name: AnswerName,
  overrides: { [key: string]: unknown } = {}
): ISessionInfo {
  return parseSessionInfo({ ...answers[name], ...overrides });
}

describe('parseSessionInfo', () => {
  it('keeps the answer: reading, levels and display strings', () => {
    const info = answer('max-age');
    expect(info.member).toBe('gesis');
    expect(info.seconds_left).toBe(2520);
    expect(info.cull_reason).toBe('max-age');
    expect(info.level).toBe('ok');
    expect(info.time_thresholds).toEqual([
      { minutes: 10, level: 'warning' },
      { minutes: 2, level: 'danger' }
    ]);
    expect(info.display.summary).toBe(answers['max-age'].display.summary);
    expect(info.display.live.details).toEqual(
      answers['max-age'].display.live.details
    );
  });

  it('needs no display strings outside Binder', () => {
    const info = parseSessionInfo({
      in_binder: false,
      reason: 'no BINDER_* variables'
    });
    expect(info.in_binder).toBe(false);
    expect(info.member).toBeNull();
    expect(info.seconds_left).toBeNull();
    expect(info.level).toBe('ok');
    expect(info.display.summary).toBe('');
  });

  it('drops values of the wrong type rather than trusting them', () => {
    const info = answer('max-age', {
      seconds_left: '42',
      cull_reason: 'reboot',
      level: 'warn',
      time_thresholds: [{ minutes: 10, level: 'warning' }, { minutes: 'x' }]
    });
    expect(info.seconds_left).toBeNull();
    expect(info.cull_reason).toBeNull();
    expect(info.level).toBe('ok');
    expect(info.time_thresholds).toEqual([{ minutes: 10, level: 'warning' }]);
  });

  it('refuses what is not a session answer', () => {
    expect(() => parseSessionInfo(null)).toThrow(/not a JSON object/);
    expect(() => parseSessionInfo([])).toThrow(/not a JSON object/);
    expect(() => parseSessionInfo({ member: 'gesis' })).toThrow(/in_binder/);
    // a server extension from before the display strings
    expect(() => parseSessionInfo({ in_binder: true })).toThrow(
      /no display strings/
    );
  });
});

describe('formatDuration: the twin of the Python formatter', () => {
  it('writes every test vector as binderfed_sdk._format does', () => {
    const entries = Object.entries(durationVectors);
    expect(entries.length).toBeGreaterThan(200);
    const mismatches = entries
      .map(([seconds, text]) => [
        seconds,
        text,
        formatDuration(Number(seconds))
      ])
      .filter(([, expected, got]) => expected !== got);
    expect(mismatches).toEqual([]);
    expect(formatDuration(700)).toBe('11 min 40 s');
  });
});

describe('statusView: the answer words, the time left counted down', () => {
  it('shows the answer as it is at its own time left', () => {
    for (const name of Object.keys(answers) as AnswerName[]) {
      const info = answer(name);
      if (!info.in_binder) {
        continue;
      }
      const view = statusView(info, info.seconds_left);
      const display = answers[name].display;
      expect(view.text).toBe(display.summary);
      expect(view.details).toEqual(display.details);
      expect(view.notification).toBe(display.notification);
      expect(view.level).toBe(answers[name].level);
    }
  });

  it('counts the time left down in the same words', () => {
    const view = statusView(answer('idle'), 100.4);
    expect(view.text).toBe(
      'gesis · 1 min 40 s left if nothing runs · 614 MiB / 2.0 GiB'
    );
    expect(view.details).toContain(
      'Time left: 1 min 40 s if nothing runs (stops from 10:40 UTC, up to 16 min later)'
    );
    expect(view.notification).toMatch(/will stop in about 1 min 40 s /);
    expect(view.notification).toMatch(/download/i);
    expect(view.notification).toContain(
      'https://mybinder.org/v2/gh/binder-examples/requirements/abc123'
    );
  });

  it('shows the kernel culler apart, as the server wrote it', () => {
    const info = answer('idle-kernel');
    const view = statusView(info, info.seconds_left);
    const kernel =
      'Kernel: your kernel stops in about 1 min 30 s if it stays idle, up to 1 min later ' +
      "(the session goes on; the kernel's variables are lost)";
    expect(view.details).toContain(kernel);
    expect(view.details).toContain(
      'Time left: 11 min 30 s if nothing runs (stops from 10:42 UTC, up to 2 min later)'
    );
    expect(info.display.warnings[0]).toMatch(
      /^your kernel stops in about 1 min 30 s/
    );
  });

  it('shows the answer without a predicted stop', () => {
    const info = answer('no-stop');
    const view = statusView(info, secondsLeftAt(info, 0, 60_000));
    expect(view.text).toBe('gesis · 614 MiB / 2.0 GiB');
    expect(view.notification).toBeNull();
  });
});

describe('liveLevel: the answer thresholds as the time left falls', () => {
  it('warns under 10 minutes, danger under 2', () => {
    const info = answer('max-age');
    expect(liveLevel(info, 2520)).toBe('ok');
    expect(liveLevel(info, 600)).toBe('ok');
    expect(liveLevel(info, 599)).toBe('warning');
    expect(liveLevel(info, 119)).toBe('danger');
    expect(liveLevel(info, null)).toBe('ok');
  });

  it('keeps the memory level of the answer', () => {
    const info = answer('memory-warning');
    expect(liveLevel(info, 2520)).toBe('warning');
    expect(liveLevel(info, 100)).toBe('danger');
  });

  it('has only the 2-minute threshold under a 10-minute idle timeout', () => {
    const idle = answer('idle');
    expect(warnMinutesOf(idle)).toEqual([2]);
    expect(liveLevel(idle, 590)).toBe('ok');
    expect(liveLevel(idle, 100)).toBe('danger');
    expect(warnMinutesOf(answer('max-age'))).toEqual([10, 2]);
  });

  it('is never raised outside Binder', () => {
    expect(liveLevel(answer('outside'), 10)).toBe('ok');
  });
});

describe('secondsLeftAt: the local countdown', () => {
  it('counts down from the answer, by the browser clock', () => {
    const info = answer('max-age', { seconds_left: 600 });
    expect(secondsLeftAt(info, 1_000_000, 1_000_000)).toBe(600);
    expect(secondsLeftAt(info, 1_000_000, 1_000_000 + 90_000)).toBe(510);
  });

  it('stops at zero and ignores a clock going backwards', () => {
    const info = answer('max-age', { seconds_left: 60 });
    expect(secondsLeftAt(info, 0, 3_600_000)).toBe(0);
    expect(secondsLeftAt(info, 10_000, 5_000)).toBe(60);
  });

  it('has nothing to count without a predicted stop', () => {
    expect(secondsLeftAt(answer('no-stop'), 0, 10_000)).toBeNull();
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

describe('the relaunch links', () => {
  const exact = 'https://mybinder.org/v2/gh/o/r/4f1ab2c9d0e1';
  const latest = 'https://mybinder.org/v2/gh/o/r/HEAD';

  it("keeps the answer's display.links, http(s) only, each once", () => {
    const info = answer('max-age', {
      display: {
        ...answers['max-age'].display,
        links: [
          { label: 'Open this exact commit again', url: exact, hint: 'commit' },
          { label: 'Open the latest', url: latest, hint: 'newest' },
          { label: 'Again', url: exact, hint: '' },
          { label: 'Evil', url: 'javascript:alert(1)', hint: '' },
          { label: 42, url: latest }
        ]
      }
    });
    expect(info.display.links).toEqual([
      { label: 'Open this exact commit again', url: exact, hint: 'commit' },
      { label: 'Open the latest', url: latest, hint: 'newest' }
    ]);
  });

  it('makes them from persistent_link and latest_link for a server without them', () => {
    const display: { [key: string]: unknown } = {
      ...answers['max-age'].display
    };
    delete display.links;
    const info = answer('max-age', {
      persistent_link: exact,
      latest_link: latest,
      display
    });
    expect(info.latest_link).toBe(latest);
    expect(info.display.links.map(link => [link.label, link.url])).toEqual([
      ['Open this exact commit again', exact],
      ['Open the latest', latest]
    ]);
    const hostile = answer('max-age', {
      persistent_link: exact,
      latest_link: 'javascript:alert(1)',
      display
    });
    expect(hostile.latest_link).toBeNull();
    expect(hostile.display.links.map(link => link.url)).toEqual([exact]);
  });
});
