import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, Notification } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';

import { SessionMonitor } from './monitor';
import { fetchSessionInfo } from './request';
import { ISessionInfo, statusView } from './session';
import { SessionStatusItem } from './statusItem';

export { ISessionInfo } from './session';

/** The plugin's and the status item's id. */
const PLUGIN_ID = 'binderfed-jupyterlab:plugin';

/** Warn (once per threshold) that the session stops soon; offer to copy the relaunch link. */
function notifyStop(info: ISessionInfo, secondsLeft: number): void {
  const link = info.persistent_link;
  const message = statusView(info, secondsLeft).notification;
  if (message === null) {
    return;
  }
  Notification.warning(message, {
    autoClose: false,
    actions: link
      ? [
          {
            label: 'Copy persistent link',
            caption: link,
            callback: () => Clipboard.copyToSystem(link)
          }
        ]
      : []
  });
}

/**
 * binderfed: which Binder member serves this session, how long it has left and how much
 * memory it uses, in the status bar; notifications before the session is stopped.
 * Outside Binder (no endpoint, or `in_binder` false) the item stays hidden.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Binder session status: member, time left before it stops, memory used / limit.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null): void => {
    const settings = app.serviceManager.serverSettings;
    const monitor = new SessionMonitor({
      fetch: () => fetchSessionInfo(settings),
      notify: notifyStop
    });
    if (statusBar) {
      const item = new SessionStatusItem(monitor);
      statusBar.registerStatusItem(PLUGIN_ID, {
        item,
        align: 'left',
        rank: 1000,
        isActive: () => monitor.inBinder,
        activeStateChanged: monitor.activeStateChanged
      });
    }
    void monitor.start();
  }
};

export default plugin;
