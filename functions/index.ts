/**
 * The Azure Functions entry point (Node.js v4 programming model): checks the settings, loads the
 * rules, and registers Warden's functions. When a setting, rule or tunable is bad, the same
 * functions are registered failing with that one line, and /api/health answers 503 with it.
 */
// The package is a CommonJS bundle: Node's ESM loader cannot see its named exports, so take the default.
import functions from '@azure/functions';
import { EVENT_HUB_RETRY, startTelemetryExport, unavailableApp, wardenFunctions, type WardenHandlers } from '../src/host/functions.js';
import { EVENT_HUB_CONNECTION, loadSettings } from '../src/host/settings.js';
import { Warden, functionsAppDependencies } from '../src/host/warden.js';

const { app } = functions;
// Before the app is built: its instruments come from the meter provider registered here.
await startTelemetryExport(process.env);
let warden: WardenHandlers;
try {
  warden = await Warden.create(loadSettings(process.env), functionsAppDependencies);
} catch (err) {
  warden = unavailableApp(err, process.env);
}

for (const f of wardenFunctions(warden)) {
  if (f.kind === 'eventHub') {
    // generic: the typed eventHub options have no dataType, and 'string' is what keeps one
    // non-JSON event from failing the whole batch in the host (each body arrives as text or JSON).
    app.generic(f.name, {
      trigger: {
        type: 'eventHubTrigger',
        name: 'messages',
        connection: EVENT_HUB_CONNECTION,
        eventHubName: f.eventHubName,
        consumerGroup: f.consumerGroup,
        cardinality: 'many',
        dataType: 'string',
      },
      retry: EVENT_HUB_RETRY,
      handler: f.handler,
    });
  } else if (f.kind === 'timer') {
    app.timer(f.name, { schedule: f.schedule, handler: f.handler });
  } else {
    app.http(f.name, { methods: ['GET'], authLevel: 'function', route: f.route, handler: f.handler });
  }
}
