import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ISessionInfo, parseSessionInfo } from './session';
import {
  IChanges,
  IMemoryHistory,
  parseChanges,
  parseMemoryHistory
} from './work';

/** The endpoint of the `binderfed_jupyter` server extension, under the server's base URL. */
export const SESSION_ENDPOINT = ['binderfed', 'session'];
/** The files changed since the session started. */
export const CHANGES_ENDPOINT = ['binderfed', 'changes'];
/** Those files as a zip. */
export const DOWNLOAD_ENDPOINT = ['binderfed', 'download'];
/** Memory over the last minutes, with its chart. */
export const MEMORY_ENDPOINT = ['binderfed', 'memory'];

/**
 * GET `<baseUrl><endpoint>` with the JupyterLab credentials (token or XSRF cookie) that
 * `ServerConnection` adds; the response whatever its status.
 */
export function requestEndpoint(
  endpoint: string[],
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, ...endpoint);
  return ServerConnection.makeRequest(
    url,
    { method: 'GET', cache: 'no-store' },
    settings
  );
}

/** The decoded JSON of an answer; a `ResponseError` for any other status or for non-JSON. */
async function json(response: Response, what: string): Promise<unknown> {
  if (!response.ok) {
    throw await ServerConnection.ResponseError.create(response);
  }
  try {
    return await response.json();
  } catch (reason) {
    throw new ServerConnection.ResponseError(
      response,
      `binderfed: the ${what} answer is not JSON (${String(reason)})`
    );
  }
}

/**
 * Ask the server extension about the session: `GET <baseUrl>binderfed/session`.
 *
 * @returns the answer, or `null` when the endpoint does not exist (404: the server
 * extension is not enabled, so this is certainly no Binder session it knows of).
 * @throws `ServerConnection.NetworkError` or `ServerConnection.ResponseError` otherwise.
 */
export async function fetchSessionInfo(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ISessionInfo | null> {
  const response = await requestEndpoint(SESSION_ENDPOINT, settings);
  if (response.status === 404) {
    return null;
  }
  return parseSessionInfo(await json(response, 'session'));
}

/** The files changed since the session started (`binderfed/changes`). */
export async function fetchChanges(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IChanges> {
  const response = await requestEndpoint(CHANGES_ENDPOINT, settings);
  return parseChanges(await json(response, 'changes'));
}

/** Memory over the last minutes, with the server's chart (`binderfed/memory`). */
export async function fetchMemoryHistory(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IMemoryHistory> {
  const response = await requestEndpoint(MEMORY_ENDPOINT, settings);
  return parseMemoryHistory(await json(response, 'memory'));
}
