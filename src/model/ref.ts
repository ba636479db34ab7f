/**
 * A resource's identity. The API version is deliberately not part of it: the same object
 * read as v1beta1 and later as v1 is one history, as in Kubernetes itself.
 */
export interface Ref {
  source: string;
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/** An unambiguous map key for a ref (names may contain any character, so join as JSON). */
export function refKey(ref: Ref): string {
  return JSON.stringify([ref.source, ref.group, ref.kind, ref.namespace, ref.name]);
}

/** `local:HTTPRoute.gateway.networking.k8s.io shop/storefront`, the form people read. */
export function formatRef(ref: Ref): string {
  const kind = ref.group ? `${ref.kind}.${ref.group}` : ref.kind;
  const name = ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
  return kind ? `${ref.source}:${kind} ${name}` : `${ref.source}: ${name}`;
}

/** The group of an apiVersion: `gateway.networking.k8s.io/v1` → `gateway.networking.k8s.io`, `v1` → ``. */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash === -1 ? "" : apiVersion.slice(0, slash);
}

/** A ref for a source-level notice (GAP, or an ERROR at a location that holds no known object). */
export function noticeRef(source: string, name = ""): Ref {
  return { source, group: "", kind: "", namespace: "", name };
}
