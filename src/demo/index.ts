// Demo part: the upstream API the demo puts behind the gateway (route `demo`).
export {
  startDemoUpstream,
  identifyCredential,
  type CredentialName,
  type DemoUpstream,
  type DemoUpstreamKeys,
  type DemoUpstreamOptions,
  type SeenRequest,
} from './upstream.js';
