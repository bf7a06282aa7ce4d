import type { ApiData } from '@mm/client';
import type { Api } from './api.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';

export type ServerItem = ApiData<'/api/servers', 'get'>[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 100;

/** Every server (or every one with a tag), paging through the API's 100-a-page limit. */
export async function listAllServers(api: Api, tag?: string): Promise<ServerItem[]> {
  const all: ServerItem[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await api.call(api.client.GET('/api/servers', { params: { query: { limit: PAGE, offset, ...(tag ? { tag } : {}) } } }));
    all.push(...page);
    if (page.length < PAGE) return all;
  }
}

/** One server by id or exact name: a name two servers share is a usage error that lists their ids. */
export async function resolveServer(api: Api, ref: string, all?: ServerItem[]): Promise<{ id: string; name: string }> {
  if (UUID.test(ref)) {
    const server = await api.call(api.client.GET('/api/servers/{id}', { params: { path: { id: ref } } }));
    return { id: server.id, name: server.name };
  }
  const matches = (all ?? (await listAllServers(api))).filter((s) => s.name === ref);
  if (matches.length === 0) throw new CliError(`No server is named "${ref}".`, ExitCode.notFound);
  if (matches.length > 1) throw usageError(`${matches.length} servers are named "${ref}"; use an id: ${matches.map((s) => s.id).join(', ')}`);
  const [match] = matches as [ServerItem];
  return { id: match.id, name: match.name };
}

/** The servers a trigger acts on: the named ones, or all with a tag; never none. */
export async function resolveTargets(api: Api, refs: string[], tag: string | undefined): Promise<{ id: string; name: string }[]> {
  if (tag && refs.length > 0) throw usageError('Name servers or give --tag, not both.');
  if (tag) {
    const tagged = await listAllServers(api, tag);
    if (tagged.length === 0) throw new CliError(`No server has the tag "${tag}".`, ExitCode.notFound);
    return tagged.map((s) => ({ id: s.id, name: s.name }));
  }
  if (refs.length === 0) throw usageError('Name at least one server (by name or id), or give --tag.');
  const all = refs.some((r) => !UUID.test(r)) ? await listAllServers(api) : undefined;
  const resolved: { id: string; name: string }[] = [];
  for (const ref of refs) resolved.push(await resolveServer(api, ref, all));
  return resolved;
}
