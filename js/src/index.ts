import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';

import { SessionMonitor } from './monitor';
import { DOWNLOAD_LABEL, IPanelActions } from './panel';
import {
  DOWNLOAD_ENDPOINT,
  fetchChanges,
  fetchMemoryHistory,
  fetchSessionInfo,
  requestEndpoint
} from './request';
import { ISessionInfo, statusView } from './session';
import { SessionStatusItem } from './statusItem';
import { DownloadOutcome, downloadMessage, downloadWork } from './work';

export { ISessionInfo } from './session';

/** The plugin's and the status item's id. */
const PLUGIN_ID = 'binderfed-jupyterlab:plugin';
/** Save the open documents, then download what changed in the session as a zip. */
export const DOWNLOAD_COMMAND = 'binderfed:download-work';
/** JupyterLab's (and Notebook 7's) command saving every open, changed document. */
const SAVE_ALL_COMMAND = 'docmanager:save-all';

/** Hand a blob to the browser's download, under `filename`. */
function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = filename;
  anchor.style.display = 'none';
  // a click outside a popup closes it: this one is no person's, it stays here
  anchor.addEventListener('click', event => event.stopPropagation());
  document.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  // the browser has taken the blob over once the download started; free it later
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Save every open, changed document, then download `binderfed/download` as a zip. The zip
 * is fetched through `ServerConnection`, which carries the server's credentials (a token
 * in a header, the XSRF cookie) that a plain link would not; the browser then saves the
 * blob. The server bounds its size (`download_max_bytes`) and refuses more with a 413
 * naming the largest files: that message is the outcome.
 */
function downloader(
  app: JupyterFrontEnd,
  settings: ServerConnection.ISettings
): () => Promise<DownloadOutcome> {
  return () =>
    downloadWork({
      saveAll: async () => {
        if (app.commands.hasCommand(SAVE_ALL_COMMAND)) {
          await app.commands.execute(SAVE_ALL_COMMAND);
        }
      },
      request: () => requestEndpoint(DOWNLOAD_ENDPOINT, settings),
      save: saveBlob
    });
}

/**
 * Warn (once per threshold) that the session stops soon; offer to download the work and
 * to copy the link that opens this exact commit again.
 */
function notifyStop(
  app: JupyterFrontEnd,
  info: ISessionInfo,
  secondsLeft: number
): void {
  const link = info.persistent_link;
  const message = statusView(info, secondsLeft).notification;
  if (message === null) {
    return;
  }
  const actions: Notification.IAction[] = [
    {
      label: DOWNLOAD_LABEL,
      caption:
        'Save the open documents, then download the files created or changed in ' +
        'this session as a zip',
      displayType: 'accent',
      callback: event => {
        // the warning still holds after a download: it stays until dismissed
        event.preventDefault();
        void app.commands.execute(DOWNLOAD_COMMAND);
      }
    }
  ];
  if (link) {
    actions.push({
      label: 'Copy persistent link',
      caption: link,
      callback: () => Clipboard.copyToSystem(link)
    });
  }
  Notification.warning(message, { autoClose: false, actions });
}

/**
 * binderfed: which Binder member serves this session, how long it has left and how much
 * memory it uses, in the status bar (Notebook 7: the top bar); a popup to download the
 * work, see what changed and memory over time; notifications before the session is
 * stopped; the command "Binder: Download my work". Outside Binder (no endpoint, or
 * `in_binder` false) the item stays hidden.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Binder session status: member, time left before it stops, memory used / limit; ' +
    'download the work before the session is stopped.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ): void => {
    const settings = app.serviceManager.serverSettings;
    const download = downloader(app, settings);
    const monitor = new SessionMonitor({
      fetch: () => fetchSessionInfo(settings),
      notify: (info, secondsLeft) => notifyStop(app, info, secondsLeft)
    });

    app.commands.addCommand(DOWNLOAD_COMMAND, {
      label: `Binder: ${DOWNLOAD_LABEL}`,
      caption:
        'Save the open documents, then download the files created or changed in this ' +
        'session as a zip',
      execute: async () => {
        const outcome = await download();
        if (outcome.ok) {
          Notification.success(downloadMessage(outcome), { autoClose: 5000 });
        } else {
          Notification.error(outcome.message, { autoClose: false });
        }
        return outcome;
      }
    });
    palette?.addItem({ command: DOWNLOAD_COMMAND, category: 'Binder' });

    const actions: IPanelActions = {
      download,
      changes: () => fetchChanges(settings),
      memory: () => fetchMemoryHistory(settings),
      copy: text => Clipboard.copyToSystem(text)
    };
    const item = new SessionStatusItem(monitor, actions);
    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID, {
        item,
        align: 'left',
        rank: 1000,
        isActive: () => monitor.inBinder,
        activeStateChanged: monitor.activeStateChanged
      });
    } else {
      // Notebook 7 has no status bar: the item goes to its top bar, shown in Binder only
      item.addClass('bf-mod-top');
      item.setHidden(true);
      monitor.activeStateChanged.connect(() =>
        item.setHidden(!monitor.inBinder)
      );
      app.shell.add(item, 'top', { rank: 900 });
    }
    void monitor.start();
  }
};

export default plugin;
