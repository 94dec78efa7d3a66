import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ISessionInfo, parseSessionInfo } from './session';

/** The endpoint of the `binderfed_jupyter` server extension, under the server's base URL. */
export const SESSION_ENDPOINT = ['binderfed', 'session'];

/**
 * Ask the server extension about the session: `GET <baseUrl>binderfed/session`, with the
 * JupyterLab credentials (token or XSRF cookie) that `ServerConnection` adds.
 *
 * @returns the answer, or `null` when the endpoint does not exist (404: the server
 * extension is not enabled, so this is certainly no Binder session it knows of).
 * @throws `ServerConnection.NetworkError` or `ServerConnection.ResponseError` otherwise.
 */
export async function fetchSessionInfo(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ISessionInfo | null> {
  const url = URLExt.join(settings.baseUrl, ...SESSION_ENDPOINT);
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'GET', cache: 'no-store' },
    settings
  );
  if (response.status === 404) {
    return null;
  }
  if (!response.ok) {
    throw await ServerConnection.ResponseError.create(response);
  }
  let data: unknown;
  try {
    data = await response.json();
  } catch (reason) {
    throw new ServerConnection.ResponseError(
      response,
      `binderfed: the session answer is not JSON (${String(reason)})`
    );
  }
  return parseSessionInfo(data);
}
