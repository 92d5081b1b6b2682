// Gateway part: the composition root that wires every part together and runs it.
export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { runUntilSignal, type StartingSignals } from './signals.js';
