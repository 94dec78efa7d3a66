/**
 * The popup's content: the session's details, "Download my work", the files a cull would
 * lose, memory over time, the relaunch links. DOM only, no JupyterLab import (what it asks
 * the server and the clipboard is passed in), so that jest checks it in jsdom.
 *
 * Everything the server sends goes in as text (`textContent`), the chart as an image, the
 * links through `relaunchLinkRow` (http(s) only).
 */
import { relaunchLinkRow } from './link';
import { IRelaunchLink } from './session';
import {
  changesView,
  chartDataUrl,
  DownloadOutcome,
  downloadMessage,
  IChanges,
  IMemoryHistory
} from './work';

/** The label of the download button, the command and the notifications' action. */
export const DOWNLOAD_LABEL = 'Download my work';

/** What the panel asks for: the server's answers, the download, the clipboard. */
export interface IPanelActions {
  download: () => Promise<DownloadOutcome>;
  changes: () => Promise<IChanges>;
  memory: () => Promise<IMemoryHistory>;
  copy: (text: string) => void;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** The chart as an image (never as markup: an SVG in an <img> runs nothing). */
export function chartImage(svg: string): HTMLImageElement {
  const img = element('img', 'bf-SessionPopup-chartImage');
  img.src = chartDataUrl(svg);
  img.alt =
    'Memory used over the last minutes, against the limit and the guarantee';
  return img;
}

/** The changed files: a summary line, the newest few with their sizes, the server's refusal. */
export function changesList(changes: IChanges): HTMLElement[] {
  const view = changesView(changes);
  const nodes: HTMLElement[] = [
    element('div', 'bf-SessionPopup-changesSummary', view.summary)
  ];
  if (view.files.length > 0) {
    const list = element('ul', 'bf-SessionPopup-files');
    for (const file of view.files) {
      const item = element('li', 'bf-SessionPopup-file');
      item.append(
        element('span', 'bf-SessionPopup-filePath', file.path),
        element('span', 'bf-SessionPopup-fileSize', file.size)
      );
      item.title = `${file.path} (${file.size})`;
      list.appendChild(item);
    }
    if (view.more !== null) {
      list.appendChild(element('li', 'bf-SessionPopup-more', view.more));
    }
    nodes.push(list);
  }
  if (view.problem !== null) {
    nodes.push(element('div', 'bf-SessionPopup-problem', view.problem));
  }
  return nodes;
}

/**
 * The popup's body. `refresh()` asks for the changed files and the memory chart (each time
 * the popup opens); `setDetails()` and `setLinks()` follow the session's answers.
 */
export class SessionPanel {
  constructor(actions: IPanelActions) {
    this._actions = actions;
    this.node = element('div', 'bf-SessionPopup');
    this._details = element('div', 'bf-SessionPopup-details');

    const actionsRow = element('div', 'bf-SessionPopup-actions');
    this._button = element(
      'button',
      'jp-Button jp-mod-styled jp-mod-accept bf-SessionPopup-download',
      DOWNLOAD_LABEL
    );
    this._button.title =
      'Save the open documents, then download the files created or changed in this ' +
      'session as a zip';
    this._button.addEventListener('click', event => {
      event.stopPropagation();
      void this.download();
    });
    this._status = element('div', 'bf-SessionPopup-status');
    this._status.setAttribute('role', 'status');
    actionsRow.append(this._button, this._status);

    this._changes = element('div', 'bf-SessionPopup-changes');
    this._chart = element('div', 'bf-SessionPopup-chart');
    this._links = element('div', 'bf-SessionPopup-links');
    this.node.append(
      this._details,
      actionsRow,
      this._changes,
      this._chart,
      this._links
    );
  }

  /** The panel's root element. */
  readonly node: HTMLDivElement;

  /** Called when the content changed size (the popup places itself again). */
  onResize: () => void = () => undefined;

  /** The session's lines: the first as a title. */
  setDetails(lines: string[]): void {
    const known = Array.from(this._details.children).map(
      child => child.textContent
    );
    if (
      known.length === lines.length &&
      known.every((text, i) => text === lines[i])
    ) {
      return;
    }
    this._details.replaceChildren(
      ...lines.map((line, index) =>
        element(
          'div',
          index === 0 ? 'bf-SessionPopup-title' : 'bf-SessionPopup-line',
          line
        )
      )
    );
    this.onResize();
  }

  /** The relaunch links, each with its copy button (only http(s) ones are rendered). */
  setLinks(links: IRelaunchLink[]): void {
    const key = JSON.stringify(links);
    if (key === this._linksKey) {
      return;
    }
    this._linksKey = key;
    const rows = links
      .map(link => relaunchLinkRow(link, text => this._actions.copy(text)))
      .filter((row): row is HTMLDivElement => row !== null);
    this._links.replaceChildren(...rows);
    this.onResize();
  }

  /** Ask for the changed files and the memory chart again. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    await Promise.all([this._refreshChanges(generation), this._refreshChart()]);
  }

  /** Save, download, say how it went (the server's words on a refusal). */
  async download(): Promise<DownloadOutcome> {
    this._button.disabled = true;
    this._status.dataset.state = 'busy';
    this._status.textContent =
      'Saving the open documents and zipping your work…';
    let outcome: DownloadOutcome;
    try {
      outcome = await this._actions.download();
    } catch (reason) {
      // the download never rejects; a broken action must not leave the button disabled
      outcome = {
        ok: false,
        message: `The download failed: ${String(reason)}`
      };
    }
    this._button.disabled = false;
    this._status.dataset.state = outcome.ok ? 'done' : 'failed';
    this._status.textContent = downloadMessage(outcome);
    this.onResize();
    // saving may have written files: the list follows
    await this._refreshChanges(++this._generation);
    return outcome;
  }

  private async _refreshChanges(generation: number): Promise<void> {
    let nodes: HTMLElement[];
    try {
      nodes = changesList(await this._actions.changes());
    } catch (reason) {
      nodes = [
        element(
          'div',
          'bf-SessionPopup-problem',
          `The list of changed files is not available (${String(reason)}).`
        )
      ];
    }
    if (generation === this._generation) {
      // a refusal the download already gave, next to its button, is not said twice
      const said = this._status.textContent;
      nodes = nodes.filter(
        node =>
          !node.classList.contains('bf-SessionPopup-problem') ||
          node.textContent !== said
      );
      this._changes.replaceChildren(...nodes);
      this.onResize();
    }
  }

  private async _refreshChart(): Promise<void> {
    let node: HTMLElement;
    try {
      node = chartImage((await this._actions.memory()).svg);
    } catch (reason) {
      node = element(
        'div',
        'bf-SessionPopup-problem',
        `The memory chart is not available (${String(reason)}).`
      );
    }
    this._chart.replaceChildren(node);
    this.onResize();
  }

  private _actions: IPanelActions;
  private _details: HTMLDivElement;
  private _button: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _changes: HTMLDivElement;
  private _chart: HTMLDivElement;
  private _links: HTMLDivElement;
  private _linksKey = '';
  private _generation = 0;
}
