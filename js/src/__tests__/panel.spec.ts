/**
 * @jest-environment jsdom
 */
import { IPanelActions, SessionPanel } from '../panel';
import { DownloadOutcome, IChanges, IMemoryHistory } from '../work';

const HOSTILE = '<img src=x onerror="window.pwned=1">';
const SVG =
  '<svg xmlns="http://www.w3.org/2000/svg"><polyline class="used" points="1,2 3,4"/></svg>';

function changes(overrides: Partial<IChanges> = {}): IChanges {
  return {
    count: 2,
    total_bytes: 1536,
    limit_bytes: 1000,
    over_limit: false,
    message: null,
    truncated: false,
    since: null,
    files: [
      { path: HOSTILE, size: 1024, mtime: 2 },
      { path: 'notes.md', size: 512, mtime: 1 }
    ],
    ...overrides
  };
}

function actions(overrides: Partial<IPanelActions> = {}): IPanelActions {
  return {
    download: async (): Promise<DownloadOutcome> => ({
      ok: true,
      filename: 'binder-work-1.zip',
      bytes: 2048,
      note: ''
    }),
    changes: async () => changes(),
    memory: async (): Promise<IMemoryHistory> => ({
      svg: SVG,
      samples: [],
      limit: null,
      guarantee: null
    }),
    copy: () => undefined,
    ...overrides
  };
}

function text(panel: SessionPanel, selector: string): string {
  return panel.node.querySelector(selector)?.textContent ?? '';
}

describe('SessionPanel', () => {
  it('lists the changed files as text, the newest with their sizes', async () => {
    const panel = new SessionPanel(actions());
    await panel.refresh();
    expect(text(panel, '.bf-SessionPopup-changesSummary')).toBe(
      '2 files changed since the session started (2 KiB)'
    );
    const paths = Array.from(
      panel.node.querySelectorAll('.bf-SessionPopup-filePath')
    ).map(node => node.textContent);
    expect(paths).toEqual([HOSTILE, 'notes.md']);
    const sizes = Array.from(
      panel.node.querySelectorAll('.bf-SessionPopup-fileSize')
    ).map(node => node.textContent);
    expect(sizes).toEqual(['1 KiB', '512 B']);
    // the hostile path stays text: no element made from it
    expect(panel.node.querySelectorAll('img[onerror]').length).toBe(0);
  });

  it('shows the chart as an <img> whose data URL is the SVG', async () => {
    const panel = new SessionPanel(actions());
    await panel.refresh();
    const img = panel.node.querySelector<HTMLImageElement>(
      '.bf-SessionPopup-chart img'
    );
    expect(img).not.toBeNull();
    const src = img!.getAttribute('src')!;
    expect(src.startsWith('data:image/svg+xml;charset=utf-8,')).toBe(true);
    expect(decodeURIComponent(src.split(',')[1])).toBe(SVG);
    // nothing of the SVG became markup in the page
    expect(panel.node.querySelector('svg, polyline')).toBeNull();
  });

  it("says the server's refusal, and what is not available", async () => {
    const message = `Your changed files come to 1.5 KiB: ${HOSTILE} (1 KiB)`;
    const panel = new SessionPanel(
      actions({
        changes: async () => changes({ over_limit: true, message }),
        memory: async () => {
          throw new Error('503');
        }
      })
    );
    await panel.refresh();
    expect(
      text(panel, '.bf-SessionPopup-changes .bf-SessionPopup-problem')
    ).toBe(message);
    expect(text(panel, '.bf-SessionPopup-chart')).toContain(
      'The memory chart is not available (Error: 503)'
    );
    expect(panel.node.querySelectorAll('img').length).toBe(0);
  });

  it('downloads, says how it went, refreshes the list', async () => {
    const listed = jest.fn(async () => changes());
    const panel = new SessionPanel(actions({ changes: listed }));
    const button = panel.node.querySelector<HTMLButtonElement>(
      'button.bf-SessionPopup-download'
    )!;
    expect(button.textContent).toBe('Download my work');
    const outcome = await panel.download();
    expect(outcome.ok).toBe(true);
    expect(button.disabled).toBe(false);
    expect(text(panel, '.bf-SessionPopup-status')).toBe(
      'Downloaded binder-work-1.zip (2 KiB).'
    );
    expect(listed).toHaveBeenCalledTimes(1);
  });

  it('shows a 413 refusal as text', async () => {
    const message = `Too big: ${HOSTILE}`;
    const panel = new SessionPanel(
      actions({ download: async () => ({ ok: false, message }) })
    );
    await panel.download();
    const status = panel.node.querySelector<HTMLElement>(
      '.bf-SessionPopup-status'
    )!;
    expect(status.textContent).toBe(message);
    expect(status.dataset.state).toBe('failed');
    expect(status.children.length).toBe(0);
  });

  it('says a refusal once: next to the button, not again in the list', async () => {
    const message =
      'The changed files come to 2 MiB, over the download limit of 1 MiB.';
    const panel = new SessionPanel(
      actions({
        download: async () => ({ ok: false, message }),
        changes: async () => changes({ over_limit: true, message })
      })
    );
    await panel.refresh();
    expect(
      text(panel, '.bf-SessionPopup-changes .bf-SessionPopup-problem')
    ).toBe(message);
    await panel.download();
    expect(text(panel, '.bf-SessionPopup-status')).toBe(message);
    expect(
      panel.node.querySelector(
        '.bf-SessionPopup-changes .bf-SessionPopup-problem'
      )
    ).toBeNull();
    expect(text(panel, '.bf-SessionPopup-changesSummary')).toContain(
      '2 files changed'
    );
  });

  it('renders http(s) relaunch links only, each with its copy button', () => {
    const copied: string[] = [];
    const panel = new SessionPanel(actions({ copy: t => copied.push(t) }));
    const exact = 'https://mybinder.org/v2/gh/o/r/4f1ab2c9d0e1';
    panel.setLinks([
      {
        label: 'Open this exact commit again',
        url: exact,
        hint: 'commit 4f1ab2c9d0e1'
      },
      { label: 'Open the latest', url: 'javascript:alert(1)', hint: '' }
    ]);
    const anchors = panel.node.querySelectorAll('a');
    expect(anchors.length).toBe(1);
    expect(anchors[0].getAttribute('href')).toBe(exact);
    expect(anchors[0].textContent).toBe('Open this exact commit again');
    const buttons = panel.node.querySelectorAll<HTMLButtonElement>(
      '.bf-SessionPopup-links button.bf-SessionPopup-copy'
    );
    expect(buttons.length).toBe(1);
    buttons[0].click();
    expect(copied).toEqual([exact]);
  });

  it('keeps the details as lines of text, the first as the title', () => {
    const panel = new SessionPanel(actions());
    panel.setDetails(['Binder session on gesis', HOSTILE]);
    expect(text(panel, '.bf-SessionPopup-title')).toBe(
      'Binder session on gesis'
    );
    expect(text(panel, '.bf-SessionPopup-line')).toBe(HOSTILE);
    expect(panel.node.querySelector('img')).toBeNull();
  });
});
