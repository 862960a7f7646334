import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RESERVED_COLUMN_NAMES, alertStreamColumns, alertTableColumns, alertTransformKql } from '../../src/delivery/table-schema.js';
import { alertSchemaVariables, syncAlertColumns } from '../../infra/sync.js';
import { DEFAULT_ROWS_PER_RUN, DEFAULT_RUN_EVERY_MS } from '../../src/delivery/pacing.js';
import { METRIC } from '../../src/telemetry/telemetry.js';
import {
  type ArmResource,
  type ArmTemplate,
  Evaluator,
  type Json,
  type JsonObject,
  calls,
  isExpression,
  parseExpression,
  readTemplate,
  strings,
} from './arm.js';

const repo = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const TEMPLATES = ['main.json', 'activity-log.json', 'entra-signin.json', 'resource-logs.json'] as const;
const templates = Object.fromEntries(TEMPLATES.map((name) => [name, readTemplate(repo(`infra/${name}`))])) as Record<(typeof TEMPLATES)[number], ArmTemplate>;
const main = templates['main.json'];
const evaluate = new Evaluator(main);

/** Azure built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles). */
const BUILT_IN_ROLES: Record<string, string> = {
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  'a638d3c7-ab3a-418d-83e6-5f17a39d4fde': 'Azure Event Hubs Data Receiver',
  '2b629674-e913-4c01-ae53-ef4638d8f975': 'Azure Event Hubs Data Sender',
  '73c42c96-874c-492b-b04d-ab87d138a893': 'Log Analytics Reader',
};

/**
 * What the templates rest on, from the published schemas and docs (docs/deploy.md cites each).
 * Microsoft.SecurityInsights/alertRules kinds per API version, from the REST specs as generated
 * into github.com/Azure/bicep-types-az (generated/securityinsights/microsoft.securityinsights/<version>/types.md):
 * the stable versions have no NRT kind; the previews since 2021-09-01-preview have it.
 */
const ALERT_RULE_KINDS: Record<string, string[]> = {
  '2023-02-01': ['Fusion', 'MicrosoftSecurityIncidentCreation', 'Scheduled'],
  '2024-09-01': ['Fusion', 'MicrosoftSecurityIncidentCreation', 'Scheduled'],
  '2023-05-01-preview': ['Fusion', 'MicrosoftSecurityIncidentCreation', 'MLBehaviorAnalytics', 'NRT', 'Scheduled', 'ThreatIntelligence'],
  '2025-01-01-preview': ['Fusion', 'MicrosoftSecurityIncidentCreation', 'MLBehaviorAnalytics', 'NRT', 'Scheduled', 'ThreatIntelligence'],
};

/** Alerts one rule run raises at most, by rule kind (learn.microsoft.com/azure/sentinel/near-real-time-rules, …/detect-threats-custom): past it one alert summarises the rest. */
const ALERTS_PER_RUN: Record<string, number> = { NRT: 30, Scheduled: 150 };

/** Resource log categories per Microsoft.CognitiveServices/accounts kind (learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-cognitiveservices-accounts-logs). */
const AI_CATEGORIES_BY_KIND: Record<string, string[]> = {
  OpenAI: ['Audit', 'RequestResponse', 'AzureOpenAIRequestUsage', 'Trace'],
  AIServices: ['Audit', 'RequestResponse', 'AzureOpenAIRequestUsage', 'Trace'],
  CognitiveServices: ['Audit', 'RequestResponse', 'Trace'],
  FormRecognizer: ['Audit', 'RequestResponse', 'Trace'],
  TextAnalytics: ['Audit', 'RequestResponse', 'Trace'],
  SpeechServices: ['Audit', 'RequestResponse', 'Trace'],
};

/** Naming rules per resource type (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules). */
const NAME_RULES: Record<string, RegExp> = {
  'Microsoft.Storage/storageAccounts': /^[a-z0-9]{3,24}$/,
  'Microsoft.EventHub/namespaces': /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/,
  'Microsoft.Web/serverfarms': /^[a-zA-Z0-9-]{1,60}$/,
  'Microsoft.Web/sites': /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,58}[a-zA-Z0-9])?$/,
  'Microsoft.Insights/components': /^[^%&\\?/]{1,260}$/,
  'Microsoft.Insights/dataCollectionRules': /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,62}[a-zA-Z0-9_]$/,
};

const IDENTITY_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'EventHubConnection__fullyQualifiedNamespace',
  'WARDEN_STORAGE_ACCOUNT',
  'SENTINEL_DCR_ENDPOINT',
  'SENTINEL_DCR_IMMUTABLE_ID',
  'SENTINEL_STREAM_NAME',
  'WARDEN_HUB_ACTIVITY',
  'WARDEN_HUB_SIGNIN',
  'WARDEN_HUB_RESOURCE',
  'WARDEN_HUB_EVENTS',
];

function resourcesOfType(template: ArmTemplate, type: string): ArmResource[] {
  return template.resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
}

function single(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOfType(template, type);
  expect(found, type).toHaveLength(1);
  return found[0];
}

function obj(value: Json | undefined): JsonObject {
  expect(value && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  return value as JsonObject;
}

/** A value the template must give as a string: the test fails on anything else rather than comparing its stringified form. */
function str(value: unknown): string {
  expect(typeof value).toBe('string');
  return value as string;
}

/** The id of the resource the first reference() in an expression reads. */
function referencedId(expression: Json): string {
  const reference = calls(parseExpression(str(expression))).find((c) => c.name === 'reference');
  if (!reference) throw new Error(`no reference() in ${JSON.stringify(expression)}`);
  return str(evaluate.expr(reference.args[0]));
}

const lastSegment = (name: string): string => name.split('/').at(-1) as string;

/** A template's own expressions, then each inner-scope nested template's, which resolve names on their own. */
function expressionScopes(template: ArmTemplate): Array<{ template: ArmTemplate; expressions: string[] }> {
  const root = template as unknown as JsonObject;
  const expressions = strings(root, '$', (o) => o !== root && '$schema' in o)
    .map((s) => s.value)
    .filter(isExpression);
  const inner = resourcesOfType(template, 'Microsoft.Resources/deployments')
    .map((deployment) => obj(deployment.properties))
    .filter((props) => (props.expressionEvaluationOptions as JsonObject | undefined)?.scope === 'inner')
    .map((props) => ({ parameters: {}, variables: {}, outputs: {}, ...obj(props.template) }) as unknown as ArmTemplate);
  return [{ template, expressions }, ...inner.flatMap(expressionScopes)];
}

/** A nested deployment's template: its expressions resolve in its own scope. */
const isNestedTemplate = (o: JsonObject): boolean => '$schema' in o && o !== (main as unknown as JsonObject);

/** Resources a template declares inside inner-scope nested deployments, with the id of the deployment that declares each. */
function nestedResources(template: ArmTemplate, outer: Evaluator): Array<{ resource: ArmResource; evaluate: Evaluator; id: string; deploymentId: string }> {
  return resourcesOfType(template, 'Microsoft.Resources/deployments').flatMap((deployment) => {
    const props = obj(deployment.properties);
    const inner = { parameters: {}, variables: {}, outputs: {}, ...obj(props.template) } as unknown as ArmTemplate;
    // What the deployment passes, evaluated outside; deploy-time values stay recognisable.
    const passed = Object.fromEntries(
      Object.entries(obj(props.parameters)).map(([name, p]) => {
        const value = outer.value(obj(p).value);
        return [name, typeof value === 'symbol' ? '<deploy-time>' : (value as Json)];
      }),
    );
    const evaluate = new Evaluator(inner, passed);
    const deploymentId = outer.resourceIdOf(deployment);
    return inner.resources.map((resource) => ({ resource, evaluate, id: evaluate.resourceIdOf(resource), deploymentId }));
  });
}

describe('every template', () => {
  it.each(TEMPLATES)('%s is a template with $schema, contentVersion and resources', (name) => {
    const template = templates[name];
    expect(template.$schema).toMatch(/^https:\/\/schema\.management\.azure\.com\/schemas\/.+Template\.json#$/);
    expect(template.contentVersion).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(template.resources.length).toBeGreaterThan(0);
    for (const resource of template.resources) {
      expect(resource.type, JSON.stringify(resource.name)).toMatch(/^[A-Za-z.]+\/[A-Za-z/]+$/);
      expect(resource.apiVersion, resource.type).toMatch(/^\d{4}-\d{2}-\d{2}(-preview)?$/);
    }
  });

  it.each(TEMPLATES)('%s: every expression parses and every parameter/variable it uses is declared, and every declared one is used', (name) => {
    for (const { template, expressions } of expressionScopes(templates[name])) {
      const used = { parameters: new Set<string>(), variables: new Set<string>() };
      for (const expression of expressions) {
        for (const call of calls(parseExpression(expression))) {
          if (call.name !== 'parameters' && call.name !== 'variables') continue;
          const [arg] = call.args;
          expect(arg.kind, `${call.name}() takes a literal name in ${expression}`).toBe('string');
          used[call.name].add((arg as { value: string }).value);
        }
      }
      expect(
        [...used.parameters].filter((p) => !(p in template.parameters)),
        'undeclared parameters',
      ).toEqual([]);
      expect(
        [...used.variables].filter((v) => !(v in template.variables)),
        'undeclared variables',
      ).toEqual([]);
      expect(
        Object.keys(template.parameters).filter((p) => !used.parameters.has(p)),
        'unused parameters',
      ).toEqual([]);
      expect(
        Object.keys(template.variables).filter((v) => !used.variables.has(v)),
        'unused variables',
      ).toEqual([]);
    }
  });

  it.each(TEMPLATES)('%s holds no secrets and never reads keys', (name) => {
    const text = readFileSync(repo(`infra/${name}`), 'utf8');
    expect(text).not.toMatch(/AccountKey=|SharedAccessKey=|sig=|UseDevelopmentStorage/i);
    const fns = strings(templates[name] as unknown as Json)
      .filter((s) => isExpression(s.value))
      .flatMap((s) => calls(parseExpression(s.value)).map((c) => c.name.toLowerCase()));
    expect(
      fns.filter((fn) => fn.startsWith('list')),
      'list*() returns keys or connection strings',
    ).toEqual([]);
  });
});

describe('main.json', () => {
  it('contains every resource Warden runs on', () => {
    const types = new Set(main.resources.map((r) => r.type));
    for (const type of [
      'Microsoft.OperationalInsights/workspaces',
      'Microsoft.SecurityInsights/onboardingStates',
      'Microsoft.OperationalInsights/workspaces/tables',
      'Microsoft.Resources/deployments',
      'Microsoft.Insights/diagnosticSettings',
      'Microsoft.Insights/workbooks',
      'Microsoft.SecurityInsights/alertRules',
      'Microsoft.EventHub/namespaces',
      'Microsoft.EventHub/namespaces/eventhubs',
      'Microsoft.EventHub/namespaces/eventhubs/consumergroups',
      'Microsoft.EventHub/namespaces/authorizationRules',
      'Microsoft.Storage/storageAccounts',
      'Microsoft.Web/serverfarms',
      'Microsoft.Web/sites',
      'Microsoft.Authorization/roleAssignments',
    ]) {
      expect(types.has(type), type).toBe(true);
    }
  });

  const nested = nestedResources(main, evaluate);

  it('every resourceId(), scope and dependsOn points at a resource declared in the template', () => {
    const declared = new Set([...main.resources.map((r) => evaluate.resourceIdOf(r)), ...nested.map((n) => n.id)].map((id) => id.toLowerCase()));
    const pointers: string[] = [];
    for (const resource of main.resources) {
      for (const dep of (resource.dependsOn as string[] | undefined) ?? []) pointers.push(evaluate.string(dep));
      if (resource.scope !== undefined) pointers.push(evaluate.string(resource.scope));
    }
    for (const { value } of strings(main as unknown as Json, '$', isNestedTemplate).filter((s) => isExpression(s.value))) {
      for (const call of calls(parseExpression(value))) {
        if (call.name === 'resourceId' || call.name === 'extensionResourceId') pointers.push(evaluate.expr(call) as string);
      }
    }
    expect(pointers.length).toBeGreaterThan(40);
    expect([...new Set(pointers)].filter((id) => !declared.has(id.toLowerCase()))).toEqual([]);
  });

  it('a resource that reads another (reference() or scope) deploys after it', () => {
    const byId = new Map(main.resources.map((r) => [evaluate.resourceIdOf(r).toLowerCase(), r]));
    const dependsOn = (r: ArmResource): string[] => ((r.dependsOn as string[] | undefined) ?? []).map((d) => evaluate.string(d).toLowerCase());
    const closure = (r: ArmResource, seen = new Set<string>()): Set<string> => {
      for (const id of dependsOn(r)) {
        if (!seen.has(id)) {
          seen.add(id);
          closure(byId.get(id) as ArmResource, seen);
        }
      }
      return seen;
    };
    // A resource declared in a nested deployment is there once that deployment is.
    const deployedBy = new Map(nested.map((n) => [n.id.toLowerCase(), n.deploymentId.toLowerCase()]));
    for (const resource of main.resources) {
      const needs = new Set<string>();
      if (resource.scope !== undefined) needs.add(evaluate.string(resource.scope).toLowerCase());
      for (const { value } of strings(resource as unknown as Json, '$', isNestedTemplate).filter((s) => isExpression(s.value))) {
        for (const call of calls(parseExpression(value)).filter((c) => c.name === 'reference')) {
          needs.add(str(evaluate.expr(call.args[0])).toLowerCase());
        }
      }
      const before = closure(resource);
      expect(
        [...needs].map((id) => deployedBy.get(id) ?? id).filter((id) => !before.has(id)),
        `${resource.type} ${resource.name}`,
      ).toEqual([]);
    }
  });

  const dcrDeployment = single(main, 'Microsoft.Resources/deployments');
  const dcrNested = nested.find((n) => n.resource.type === 'Microsoft.Insights/dataCollectionRules');
  const dcr = dcrNested?.resource as ArmResource;
  const dcrEvaluate = dcrNested?.evaluate as Evaluator;
  const workspace = single(main, 'Microsoft.OperationalInsights/workspaces');

  it('the DCR stream is the Alert contract; the WardenAlerts_CL table is the same with reserved column names renamed', () => {
    const table = single(main, 'Microsoft.OperationalInsights/workspaces/tables');
    const tableProps = obj(table.properties);
    expect(lastSegment(evaluate.string(table.name))).toBe('WardenAlerts_CL');
    expect(tableProps.plan, 'NRT rules need an Analytics table').toBe('Analytics');
    const tableColumns = evaluate.value(obj(tableProps.schema).columns) as Array<{ name: string }>;
    expect(tableColumns).toEqual(alertTableColumns());
    // Title is reserved in custom tables (learn.microsoft.com/azure/azure-monitor/logs/create-custom-table).
    const reserved = new Set<string>(RESERVED_COLUMN_NAMES.map((n) => n.toLowerCase()));
    expect(RESERVED_COLUMN_NAMES).toContain('Title');
    expect(tableColumns.filter((c) => reserved.has(c.name.toLowerCase()))).toEqual([]);
    expect(tableColumns.map((c) => c.name)).toContain('AlertTitle');

    const streams = obj(obj(dcr.properties).streamDeclarations);
    const streamName = Object.keys(streams)[0];
    expect(dcrEvaluate.string(streamName)).toBe('Custom-WardenAlerts');
    expect(dcrEvaluate.value(obj(streams[streamName]).columns)).toEqual(alertStreamColumns());
    expect(alertStreamColumns().map((c) => c.name)).toContain('Title');
  });

  it('the DCR transform renames exactly the reserved fields, so every stream field lands in a column', () => {
    const flow = (obj(dcr.properties).dataFlows as JsonObject[])[0];
    const transform = dcrEvaluate.string(flow.transformKql);
    expect(transform).toBe(alertTransformKql());
    expect(transform).toBe('source | project-rename AlertTitle = Title');
    const renames = Object.fromEntries([...transform.matchAll(/(\w+) = (\w+)/g)].map((m) => [m[2], m[1]]));
    expect(alertStreamColumns().map((c) => renames[c.name] ?? c.name)).toEqual(alertTableColumns().map((c) => c.name));
  });

  it("the DCR is a Direct DCR in the workspace's region, whose flow takes the declared stream to the table, in the Sentinel workspace", () => {
    const props = obj(dcr.properties);
    expect(dcr.kind).toBe('Direct');
    // A DCR must be in its destination workspace's region; ARM reads that only at deploy time.
    expect(dcr.location).toBe("[parameters('location')]");
    const passedLocation = str(obj(obj(obj(dcrDeployment.properties).parameters).location).value);
    expect(passedLocation).toBe(
      "[reference(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName')), '2023-09-01', 'full').location]",
    );
    expect(referencedId(passedLocation)).toBe(evaluate.resourceIdOf(workspace));
    expect(obj(dcrDeployment.properties).expressionEvaluationOptions).toEqual({ scope: 'inner' });

    const tableName = lastSegment(evaluate.string(single(main, 'Microsoft.OperationalInsights/workspaces/tables').name));
    const destinations = obj(props.destinations).logAnalytics as JsonObject[];
    expect(destinations.map((d) => dcrEvaluate.string(d.workspaceResourceId))).toEqual([evaluate.resourceIdOf(workspace)]);
    const flows = props.dataFlows as JsonObject[];
    expect(flows).toHaveLength(1);
    expect(dcrEvaluate.value(flows[0].streams)).toEqual(Object.keys(obj(props.streamDeclarations)).map((k) => dcrEvaluate.string(k)));
    expect(flows[0].destinations).toEqual(destinations.map((d) => d.name));
    expect(dcrEvaluate.string(flows[0].outputStream)).toBe(`Custom-${tableName}`);
  });

  it("sends the DCR's LogErrors to the workspace, where rows it drops leave a trace", () => {
    const setting = single(main, 'Microsoft.Insights/diagnosticSettings');
    expect(evaluate.string(setting.scope)).toBe(dcrNested?.id);
    const props = obj(setting.properties);
    expect(evaluate.string(props.workspaceId)).toBe(evaluate.resourceIdOf(workspace));
    expect(props.logs).toEqual([{ category: 'LogErrors', enabled: true }]);
  });

  describe('the Sentinel NRT rule', () => {
    const rule = single(main, 'Microsoft.SecurityInsights/alertRules');
    const props = obj(rule.properties);
    const projected = (): string[] =>
      projectedColumns(
        str(props.query),
        alertTableColumns().map((c) => c.name),
      );

    it('is an NRT rule, in an API version that has the NRT kind, on the Sentinel workspace, after onboarding', () => {
      expect(rule.kind).toBe('NRT');
      expect(ALERT_RULE_KINDS[rule.apiVersion], `alertRules@${rule.apiVersion} is not in the table of known versions`).toBeDefined();
      expect(ALERT_RULE_KINDS[rule.apiVersion]).toContain('NRT');
      // The stable versions would refuse the rule on the first deployment.
      for (const stable of Object.keys(ALERT_RULE_KINDS).filter((v) => !v.endsWith('-preview'))) expect(ALERT_RULE_KINDS[stable]).not.toContain('NRT');
      expect(evaluate.string(rule.scope)).toBe(evaluate.resourceIdOf(single(main, 'Microsoft.OperationalInsights/workspaces')));
      const onboarding = evaluate.resourceIdOf(single(main, 'Microsoft.SecurityInsights/onboardingStates'));
      expect((rule.dependsOn as string[]).map((d) => evaluate.string(d))).toContain(onboarding);
    });

    it('queries WardenAlerts_CL and projects only columns that exist', () => {
      expect(str(props.query).trimStart().startsWith('WardenAlerts_CL\n')).toBe(true);
      // projectedColumns fails on any name neither the table nor an earlier extend defines.
      expect(projected()).toContain('AlertId');
    });

    it('gets no more rows per run than it raises alerts for, with room for ingestion latency (pacing defaults)', () => {
      // An NRT rule runs every minute; two windows' rows landing in one run still fit its cap.
      expect(DEFAULT_RUN_EVERY_MS).toBe(60_000);
      expect(2 * DEFAULT_ROWS_PER_RUN).toBeLessThanOrEqual(ALERTS_PER_RUN[rule.kind as string]);
      expect(str(props.description)).toContain('SENTINEL_ROWS_PER_RUN');
    });

    it('maps every entity of the row (each resource id, IP and cloud application) through its Entities column', () => {
      expect(props.sentinelEntitiesMappings).toEqual([{ columnName: 'Entities' }]);
      expect(projected()).toContain('Entities');
    });

    it('sets AadUserId only when the principal id is a GUID, else the account goes by name or UPN', () => {
      const query = str(props.query);
      const aad = /AadUserId = iff\(PrincipalId matches regex "([^"]+)", PrincipalId, ""\)/.exec(query);
      expect(aad, 'AadUserId expression').not.toBeNull();
      const guid = new RegExp((aad as RegExpExecArray)[1]);
      expect(guid.test('3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21')).toBe(true);
      expect(guid.test('key:oai-contoso-prod')).toBe(false);
      expect(guid.test('alice@contoso.com')).toBe(false);
      expect(query).toContain('AccountName = coalesce(PrincipalName, PrincipalId)');
    });

    it('maps Account, AzureResource and IP entities from projected columns', () => {
      const mappings: Record<string, Record<string, string>> = Object.fromEntries(
        (props.entityMappings as JsonObject[]).map((m) => [
          str(m.entityType),
          Object.fromEntries((m.fieldMappings as JsonObject[]).map((f) => [str(f.identifier), str(f.columnName)])),
        ]),
      );
      expect(Object.keys(mappings).sort()).toEqual(['Account', 'AzureResource', 'IP']);
      expect(Object.keys(mappings.Account).sort()).toEqual(['AadUserId', 'Name']);
      expect(Object.keys(mappings.AzureResource)).toEqual(['ResourceId']);
      expect(Object.keys(mappings.IP)).toEqual(['Address']);
      for (const column of Object.values(mappings).flatMap((m) => Object.values(m))) expect(projected()).toContain(column);
    });

    it('takes title, description, severity and tactics from each alert row', () => {
      const override = obj(props.alertDetailsOverride);
      expect(override.alertDisplayNameFormat).toBe('{{AlertTitle}}');
      expect(override.alertDescriptionFormat).toBe('{{Description}}');
      const placeholders = [str(override.alertDisplayNameFormat), str(override.alertDescriptionFormat)].flatMap((f) =>
        [...f.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]),
      );
      for (const column of [...placeholders, str(override.alertSeverityColumnName), str(override.alertTacticsColumnName)]) {
        expect(projected()).toContain(column);
      }
      expect(override.alertSeverityColumnName).toBe('Severity');
      expect(obj(props.eventGroupingSettings).aggregationKind).toBe('AlertPerResult');
    });

    it('opens one incident per AlertId: custom details come from projected columns and grouping is on AlertId', () => {
      const details = obj(props.customDetails);
      for (const column of Object.values(details)) expect(projected()).toContain(column);
      expect(details.AlertId).toBe('AlertId');
      for (const key of ['RuleId', 'EventCount']) expect(Object.keys(details)).toContain(key);
      const incidents = obj(props.incidentConfiguration);
      expect(incidents.createIncident).toBe(true);
      const grouping = obj(incidents.groupingConfiguration);
      expect(grouping).toMatchObject({
        enabled: true,
        matchingMethod: 'Selected',
        groupByCustomDetails: ['AlertId'],
        groupByEntities: [],
        groupByAlertDetails: [],
      });
    });
  });

  describe('the Function App', () => {
    const site = single(main, 'Microsoft.Web/sites');
    const props = obj(site.properties);
    const settings = Object.fromEntries((obj(props.siteConfig).appSettings as JsonObject[]).map((s) => [str(s.name), s.value]));
    const resourceName = (type: string, predicate: (r: ArmResource) => boolean = () => true): string[] =>
      resourcesOfType(main, type)
        .filter(predicate)
        .map((r) => lastSegment(evaluate.string(r.name)));

    it('runs Node 22 on Flex Consumption, in a region of its own, with a system-assigned identity that also fetches its package', () => {
      // Node 20 reached end of life in April 2026 (learn.microsoft.com/azure/azure-functions/functions-versions#languages).
      for (const type of ['Microsoft.Web/sites', 'Microsoft.Web/serverfarms', 'Microsoft.Storage/storageAccounts', 'Microsoft.Insights/components']) {
        expect(single(main, type).location, type).toBe("[parameters('appLocation')]");
      }
      expect(main.parameters.appLocation.defaultValue).toBe("[parameters('location')]");
      expect(single(main, 'Microsoft.EventHub/namespaces').location).toBe("[parameters('location')]");
      expect(site.kind).toBe('functionapp,linux');
      expect(site.identity).toEqual({ type: 'SystemAssigned' });
      const plan = single(main, 'Microsoft.Web/serverfarms');
      expect(plan.sku).toMatchObject({ name: 'FC1', tier: 'FlexConsumption' });
      expect(evaluate.string(props.serverFarmId)).toBe(evaluate.resourceIdOf(plan));
      const config = obj(props.functionAppConfig);
      expect(config.runtime).toEqual({ name: 'node', version: '22' });
      const storage = obj(obj(config.deployment).storage);
      expect(storage.type).toBe('blobContainer');
      expect(storage.authentication).toEqual({ type: 'SystemAssignedIdentity' });
      const container = resourceName('Microsoft.Storage/storageAccounts/blobServices/containers');
      expect(container).toHaveLength(1);
      // <the storage account's blob endpoint, known at deploy time><the container the template creates>
      expect(evaluate.value(storage.value)).toBe(`<deploy-time>${container[0]}`);
      expect(referencedId(storage.value)).toBe(evaluate.resourceIdOf(single(main, 'Microsoft.Storage/storageAccounts')));
    });

    it('has only identity-based settings, including every setting Warden reads', () => {
      for (const name of IDENTITY_SETTINGS) expect(Object.keys(settings)).toContain(name);
      const values = JSON.stringify(settings);
      expect(values).not.toMatch(/AccountKey=|SharedAccessKey=|sig=|Endpoint=sb:/i);
      // Flex Consumption sets the runtime in functionAppConfig and rejects the old settings.
      for (const name of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'WEBSITE_RUN_FROM_PACKAGE', 'AzureWebJobsStorage']) {
        expect(Object.keys(settings)).not.toContain(name);
      }
      expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe('Authorization=AAD');
    });

    it('settings name the resources the template creates', () => {
      const [storageAccount] = resourceName('Microsoft.Storage/storageAccounts');
      expect(evaluate.value(settings.AzureWebJobsStorage__accountName)).toBe(storageAccount);
      expect(evaluate.value(settings.WARDEN_STORAGE_ACCOUNT)).toBe(storageAccount);
      // The namespace's own endpoint, so a sovereign cloud's suffix (servicebus.chinacloudapi.cn, …) comes with it.
      expect(referencedId(settings.EventHubConnection__fullyQualifiedNamespace)).toBe(evaluate.resourceIdOf(single(main, 'Microsoft.EventHub/namespaces')));
      expect(str(settings.EventHubConnection__fullyQualifiedNamespace)).toContain('.serviceBusEndpoint');
      expect(JSON.stringify(main)).not.toMatch(/core\.windows\.net|servicebus\.windows\.net'/);
      expect(referencedId(settings.WARDEN_AUDIT_WORKSPACE_ID)).toBe(evaluate.resourceIdOf(workspace));
      expect(str(settings.WARDEN_AUDIT_WORKSPACE_ID)).toMatch(/\.customerId\]$/);

      const hubs = resourcesOfType(main, 'Microsoft.EventHub/namespaces/eventhubs');
      const partitions = (hubName: Json): Json => {
        const hub = hubs.find((h) => lastSegment(evaluate.string(h.name)) === evaluate.value(hubName));
        expect(hub, `hub ${JSON.stringify(hubName)}`).toBeDefined();
        return obj((hub as ArmResource).properties).partitionCount;
      };
      for (const raw of ['WARDEN_HUB_ACTIVITY', 'WARDEN_HUB_SIGNIN', 'WARDEN_HUB_RESOURCE']) {
        expect(partitions(settings[raw])).toBe("[parameters('rawHubPartitionCount')]");
      }
      expect(partitions(settings.WARDEN_HUB_EVENTS)).toBe("[parameters('keyedHubPartitionCount')]");
      expect(main.parameters.keyedHubPartitionCount.defaultValue as number).toBeGreaterThan(main.parameters.rawHubPartitionCount.defaultValue as number);

      const groups = resourcesOfType(main, 'Microsoft.EventHub/namespaces/eventhubs/consumergroups').map((g) => evaluate.string(g.name).split('/'));
      const groupsOf = (setting: string): string[] => groups.filter(([, hub]) => hub === evaluate.value(settings[setting])).map(([, , group]) => group);
      for (const raw of ['WARDEN_HUB_ACTIVITY', 'WARDEN_HUB_SIGNIN', 'WARDEN_HUB_RESOURCE']) {
        expect(groupsOf(raw)).toEqual([evaluate.value(settings.WARDEN_CONSUMER_GROUP_INGEST)]);
      }
      expect(groupsOf('WARDEN_HUB_EVENTS')).toEqual([evaluate.value(settings.WARDEN_CONSUMER_GROUP_DETECT)]);

      expect(Object.keys(obj(obj(dcr.properties).streamDeclarations)).map((k) => dcrEvaluate.string(k))).toEqual([
        evaluate.value(settings.SENTINEL_STREAM_NAME),
      ]);
      const outputs = obj(obj(obj(dcrDeployment.properties).template).outputs);
      for (const [name, output] of [
        ['SENTINEL_DCR_ENDPOINT', 'logsIngestionEndpoint'],
        ['SENTINEL_DCR_IMMUTABLE_ID', 'immutableId'],
      ]) {
        expect(referencedId(settings[name])).toBe(evaluate.resourceIdOf(dcrDeployment));
        expect(str(settings[name])).toContain(`.outputs.${output}.value`);
        expect(str(obj(outputs[output]).value)).toContain("resourceId('Microsoft.Insights/dataCollectionRules', parameters('name'))");
      }
    });

    it('uses the same setting names as local.settings.sample.json', () => {
      const local = JSON.parse(readFileSync(repo('local.settings.sample.json'), 'utf8')) as { IsEncrypted: boolean; Values: Record<string, string> };
      expect(local.IsEncrypted).toBe(false);
      expect(JSON.stringify(local)).not.toMatch(/AccountKey=|SharedAccessKey=|sig=|Endpoint=sb:/i);
      // Local only: Core Tools needs the worker runtime as a setting; Flex sets it in functionAppConfig.
      const localOnly = ['FUNCTIONS_WORKER_RUNTIME'];
      // Azure only: telemetry goes to Application Insights in Azure, to the console locally.
      const azureOnly = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'];
      expect(local.Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
      expect(
        Object.keys(local.Values)
          .filter((n) => !localOnly.includes(n))
          .sort(),
      ).toEqual(
        Object.keys(settings)
          .filter((n) => !azureOnly.includes(n))
          .sort(),
      );
      expect(local.Values.WARDEN_TUNABLES).toBe('{}');
      expect(local.Values.WARDEN_ALLOWED_LATENESS).toBe('5m');
      expect(evaluate.value(settings.WARDEN_ALLOWED_LATENESS)).toBe('5m');
    });
  });

  it('storage refuses shared keys, so only Entra ID identities get in', () => {
    const props = obj(single(main, 'Microsoft.Storage/storageAccounts').properties);
    expect(props).toMatchObject({ allowSharedKeyAccess: false, allowBlobPublicAccess: false });
  });

  it('grants the app exactly the documented built-in roles, each on the resource that needs it', () => {
    const site = evaluate.resourceIdOf(single(main, 'Microsoft.Web/sites'));
    const scopeType = (id: string): string => {
      const target = main.resources.find((r) => evaluate.resourceIdOf(r) === id) ?? nested.find((n) => n.id === id)?.resource;
      return (target as ArmResource).type;
    };
    const grants = resourcesOfType(main, 'Microsoft.Authorization/roleAssignments').map((assignment) => {
      const props = obj(assignment.properties);
      const roleId = evaluate.string(props.roleDefinitionId);
      const guid = roleId.match(/\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/)?.[1] as string;
      expect(BUILT_IN_ROLES[guid], roleId).toBeDefined();
      // The principal is the Function App's system-assigned identity.
      expect(str(props.principalId)).toMatch(/\)\.identity\.principalId\]$/);
      expect(referencedId(props.principalId)).toBe(site);
      expect(props.principalType).toBe('ServicePrincipal');
      return `${BUILT_IN_ROLES[guid]} on ${scopeType(evaluate.string(assignment.scope))}`;
    });
    expect(grants.sort()).toEqual(
      [
        'Monitoring Metrics Publisher on Microsoft.Insights/dataCollectionRules',
        'Monitoring Metrics Publisher on Microsoft.Insights/components',
        'Storage Blob Data Owner on Microsoft.Storage/storageAccounts',
        'Storage Table Data Contributor on Microsoft.Storage/storageAccounts',
        'Storage Queue Data Contributor on Microsoft.Storage/storageAccounts',
        'Azure Event Hubs Data Receiver on Microsoft.EventHub/namespaces',
        'Azure Event Hubs Data Sender on Microsoft.EventHub/namespaces',
        'Log Analytics Reader on Microsoft.OperationalInsights/workspaces',
      ].sort(),
    );
  });

  it('main.parameters.example.json sets declared parameters with the declared types and covers the required ones', () => {
    const example = JSON.parse(readFileSync(repo('infra/main.parameters.example.json'), 'utf8')) as { parameters: Record<string, { value: Json }> };
    const typeOf = (v: Json): string => (Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'int' : typeof v);
    for (const [name, { value }] of Object.entries(example.parameters)) {
      expect(main.parameters[name], name).toBeDefined();
      expect(typeOf(value), name).toBe(main.parameters[name].type);
    }
    const required = Object.entries(main.parameters)
      .filter(([, p]) => !('defaultValue' in p))
      .map(([n]) => n);
    for (const name of required) expect(Object.keys(example.parameters)).toContain(name);
  });

  it('npm run infra:sync puts back columns that drifted from the Alert schema', () => {
    const drifted = structuredClone(main) as unknown as Parameters<typeof syncAlertColumns>[0];
    drifted.variables.alertTableColumns = drifted.variables.alertTableColumns.map((c) => (c.name === 'AlertTitle' ? { ...c, name: 'Title' } : c));
    drifted.variables.alertTransformKql = 'source';
    expect(syncAlertColumns(drifted, alertSchemaVariables())).toBe(true);
    expect(drifted.variables.alertTableColumns).toEqual(alertTableColumns());
    expect(drifted.variables.alertTransformKql).toBe(alertTransformKql());
    expect(syncAlertColumns(drifted, alertSchemaVariables())).toBe(false);
  });

  it.each(['warden', 'Warden', 'sec-ops', '1st', 'a1b2c3d4'])('names built from namePrefix %s are valid for every provider', (prefix) => {
    const named = new Evaluator(main, { namePrefix: prefix });
    for (const [type, rule] of Object.entries(NAME_RULES)) {
      const found = [
        ...resourcesOfType(main, type).map((r) => named.string(r.name)),
        ...nested.filter((n) => n.resource.type === type).map((n) => n.id.split('/').at(-1) as string),
      ];
      expect(found.length, type).toBeGreaterThan(0);
      for (const name of found) expect(name, `${type} name from prefix ${prefix}`).toMatch(rule);
    }
    expect(main.parameters.namePrefix).toMatchObject({ minLength: 3, maxLength: 8 });
  });

  const workbookNamed = (displayName: string) => {
    const found = resourcesOfType(main, 'Microsoft.Insights/workbooks').filter((w) => obj(w.properties).displayName === displayName);
    expect(found, displayName).toHaveLength(1);
    return found[0];
  };

  describe('the Sentinel workbook', () => {
    const workbook = workbookNamed('Warden alerts');
    const props = obj(workbook.properties);
    const content = evaluate.value(props.serializedData);
    const items = (JSON.parse(str(content)) as { items: Array<{ type: number; content: { title?: string; query?: string } }> }).items;
    const queries = items.filter((i) => i.type === 3).map((i) => ({ title: String(i.content.title), query: String(i.content.query) }));

    it('is a Sentinel workbook over the workspace, with a GUID name, deployed with main.json', () => {
      expect(workbook.kind).toBe('shared');
      expect(props.category).toBe('sentinel');
      expect(evaluate.string(props.sourceId)).toBe(evaluate.resourceIdOf(workspace));
      expect(evaluate.string(workbook.name)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    });

    it('charts alerts by rule, severity, principal and resource over time, detection latency and top principals', () => {
      expect(queries.map((q) => q.title)).toEqual([
        'Alerts by rule',
        'Alerts by severity',
        'Alerts by principal',
        'Alerts by resource',
        'Detection latency (ms)',
        'Top principals',
      ]);
    });

    it('reads WardenAlerts_CL by its table column names, one row per AlertId', () => {
      const tableColumns = new Set(alertTableColumns().map((c) => c.name));
      const renamedAway = alertStreamColumns()
        .map((c) => c.name)
        .filter((n) => !tableColumns.has(n));
      expect(renamedAway).toEqual(['Title']);
      for (const { title, query } of queries) {
        expect(query.startsWith('WardenAlerts_CL\n'), title).toBe(true);
        expect(query, title).toContain('summarize arg_max(TimeGenerated, *) by AlertId');
        for (const name of renamedAway) expect(query, title).not.toMatch(new RegExp(`\\b${name}\\b`));
      }
    });
  });

  describe('the Warden health workbook', () => {
    const workbook = workbookNamed('Warden health');
    const props = obj(workbook.properties);
    const items = (
      JSON.parse(str(evaluate.value(props.serializedData))) as {
        items: Array<{ type: number; content: { title?: string; query?: string; resourceType?: string; crossComponentResources?: string[] } }>;
      }
    ).items;
    const queries = items.filter((i) => i.type === 3).map((i) => ({ ...i.content, title: String(i.content.title), query: String(i.content.query) }));
    const appInsights = single(main, 'Microsoft.Insights/components');

    it('sits on the Application Insights component Warden exports to, with a GUID name of its own, deployed with main.json', () => {
      expect(evaluate.string(props.sourceId)).toBe(evaluate.resourceIdOf(appInsights));
      expect(evaluate.string(workbook.name)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(evaluate.string(workbook.name)).not.toBe(evaluate.string(workbookNamed('Warden alerts').name));
    });

    it('shows throughput, lag, dead letters, late events, delivery backlog and failures, alerts per rule and silent sources', () => {
      expect(queries.map((q) => q.title)).toEqual([
        'Throughput: records in and events published per hub',
        'Lag per hub, enqueued to handled (ms)',
        'Detection latency (ms)',
        'Dead letters by reason',
        'Skipped records by category',
        'Late events',
        'Rule errors by rule',
        'Cap evictions by rule (oldest values and candidates dropped)',
        'Delivery backlog (outbox)',
        'Deliveries: sent, failed, paced, refused',
        'State writes to Tables: latency (ms) and transactions',
        'Alerts raised by rule and severity',
        'Silent sources',
        'Alerts per rule',
        'Silent sources raised',
      ]);
    });

    it('charts only the metrics Warden emits, and every one of them; alerts come from WardenAlerts_CL in the workspace by its column names', () => {
      const emitted = new Set<string>(Object.values(METRIC));
      // The metric names a query filters on: `name == 'x'` or `name in ('x', 'y')`.
      const charted = new Set(
        queries.flatMap((q) =>
          [...q.query.matchAll(/\bname (?:== '([^']+)'|in \(([^)]*)\))/g)].flatMap((m) =>
            m[1] ? [m[1]] : m[2].split(',').map((n) => n.trim().replace(/^'|'$/g, '')),
          ),
        ),
      );
      expect([...charted].filter((n) => !emitted.has(n))).toEqual([]);
      expect([...emitted].filter((n) => !charted.has(n))).toEqual([]);
      for (const q of queries.filter((x) => x.query.startsWith('customMetrics\n'))) expect(q.resourceType, q.title).toBe('microsoft.insights/components');
      const alertQueries = queries.filter((x) => x.query.startsWith('WardenAlerts_CL\n'));
      expect(alertQueries.map((q) => q.title)).toEqual(['Alerts per rule', 'Silent sources raised']);
      for (const q of alertQueries) {
        expect(q.crossComponentResources, q.title).toEqual([evaluate.resourceIdOf(single(main, 'Microsoft.OperationalInsights/workspaces'))]);
        expect(q.query, q.title).toContain('summarize arg_max(TimeGenerated, *) by AlertId');
        expect(q.query, q.title).not.toMatch(/\bTitle\b/);
      }
    });
  });
});

describe('diagnostic settings templates', () => {
  const hubOf = (variable: string): string => str(main.variables[variable]);
  const authorizationRule = single(main, 'Microsoft.EventHub/namespaces/authorizationRules');
  const ruleOutput = evaluate.string(obj(main.outputs.diagnosticsAuthorizationRuleId).value);

  it('main.json outputs the authorization rule Azure Monitor streams with, and it may send', () => {
    expect(ruleOutput).toBe(evaluate.resourceIdOf(authorizationRule));
    expect(obj(authorizationRule.properties).rights).toEqual(expect.arrayContaining(['Send']));
  });

  it('activity-log.json is a subscription deployment streaming the activity log to warden-activity', () => {
    const template = templates['activity-log.json'];
    expect(template.$schema).toContain('subscriptionDeploymentTemplate.json');
    const setting = single(template, 'Microsoft.Insights/diagnosticSettings');
    expect(obj(setting.properties).eventHubAuthorizationRuleId).toBe("[parameters('eventHubAuthorizationRuleId')]");
    expect(template.parameters.eventHubName.defaultValue).toBe(hubOf('hubActivity'));
    expect(template.parameters.categories.defaultValue).toContain('Administrative');
  });

  it('entra-signin.json is a tenant deployment streaming the four sign-in logs, the audit log and Graph activity to warden-signin', () => {
    const template = templates['entra-signin.json'];
    expect(template.$schema).toContain('tenantDeploymentTemplate.json');
    const setting = single(template, 'microsoft.aadiam/diagnosticSettings');
    const props = obj(setting.properties);
    expect(props.eventHubAuthorizationRuleId).toBe("[parameters('eventHubAuthorizationRuleId')]");
    expect(
      (props.logs as JsonObject[])
        .filter((l) => l.enabled === true)
        .map((l) => l.category)
        .sort(),
    ).toEqual([
      'AuditLogs',
      'ManagedIdentitySignInLogs',
      'MicrosoftGraphActivityLogs',
      'NonInteractiveUserSignInLogs',
      'ServicePrincipalSignInLogs',
      'SignInLogs',
    ]);
    expect(template.parameters.eventHubName.defaultValue).toBe(hubOf('hubSignin'));
  });

  it('resource-logs.json streams AI, Key Vault and blob logs to warden-resource, each in its own resource group', () => {
    const template = templates['resource-logs.json'];
    expect(template.parameters.eventHubName.defaultValue).toBe(hubOf('hubResource'));
    expect(template.parameters.aiLogCategories.defaultValue).toEqual(['Audit', 'RequestResponse', 'AzureOpenAIRequestUsage', 'Trace']);
    expect(template.parameters.aiCategoryKinds.defaultValue).toEqual({ AzureOpenAIRequestUsage: ['OpenAI', 'AIServices'] });
    expect(template.parameters.keyVaultLogCategories.defaultValue).toEqual(['AuditEvent']);
    expect(template.parameters.storageBlobLogCategories.defaultValue).toEqual(['StorageRead', 'StorageWrite', 'StorageDelete']);
    expect(str(template.variables.targets)).toContain("format('{0}/blobServices/default', lambdaVariables('id'))");

    const nested = single(template, 'Microsoft.Resources/deployments');
    // The target's own subscription and resource group: segments 2 and 4 of its resource id.
    expect(nested.subscriptionId).toBe("[split(variables('targets')[copyIndex()].resourceId, '/')[2]]");
    expect(nested.resourceGroup).toBe("[split(variables('targets')[copyIndex()].resourceId, '/')[4]]");
    const inner = obj(obj(nested.properties).template) as unknown as ArmTemplate;
    const setting = single(inner, 'Microsoft.Insights/diagnosticSettings');
    expect(setting.scope).toBe("[last(split(parameters('targetResourceId'), '/providers/'))]");
    const passed = Object.keys(obj(obj(nested.properties).parameters)).sort();
    expect(passed).toEqual(Object.keys(inner.parameters).sort());
  });

  it.each(Object.entries(AI_CATEGORIES_BY_KIND))('resource-logs.json asks an AI account of kind %s only for the categories it has', (kind, categories) => {
    const template = templates['resource-logs.json'];
    const nested = single(template, 'Microsoft.Resources/deployments');
    const passed = obj(obj(nested.properties).parameters);
    // The kind is read from the account, only for AI accounts (if() evaluates one branch).
    expect(str(obj(passed.kind).value)).toBe(
      "[if(variables('targets')[copyIndex()].readKind, reference(variables('targets')[copyIndex()].resourceId, '2024-10-01', 'full').kind, '')]",
    );
    const inner = obj(obj(nested.properties).template) as unknown as ArmTemplate;
    const setting = single(inner, 'Microsoft.Insights/diagnosticSettings');
    const logsFor = (k: string, asked: Json) =>
      new Evaluator(inner, {
        categories: asked,
        kind: k,
        categoryKinds: template.parameters.aiCategoryKinds.defaultValue,
      }).value(obj(setting.properties).logs) as Array<{ category: string; enabled: boolean }>;
    expect(logsFor(kind, template.parameters.aiLogCategories.defaultValue)).toEqual(categories.map((category) => ({ category, enabled: true })));
    // Key Vaults and blob services (kind '') get their categories unfiltered.
    expect(logsFor('', template.parameters.keyVaultLogCategories.defaultValue)).toEqual([{ category: 'AuditEvent', enabled: true }]);
  });
});

/**
 * The columns a KQL query of the form `Table | extend ... | project ...` outputs, checking that
 * every column it reads exists in the table or was defined by an earlier extend.
 */
function projectedColumns(query: string, tableColumns: string[]): string[] {
  const [source, ...stages] = splitTopLevel(query, '|');
  expect(source.trim()).toBe('WardenAlerts_CL');
  let available = new Set(tableColumns);
  const KQL_WORDS = new Set(['in', 'and', 'or', 'not', 'true', 'false', 'dynamic', 'has', 'contains', 'matches', 'regex']);
  const read = (expression: string): void => {
    const withoutStrings = expression.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
    for (const match of withoutStrings.matchAll(/\b([A-Za-z_]\w*)\b(?!\s*\()/g)) {
      if (!KQL_WORDS.has(match[1])) expect(available, `column ${match[1]} in "${expression.trim()}"`).toContain(match[1]);
    }
  };
  let output: string[] = [];
  for (const stage of stages) {
    const [, operator, body] = /^\s*(\w+)\s+([\s\S]*)$/.exec(stage) ?? [];
    expect(['extend', 'project'], `unsupported KQL stage "${stage.trim()}"`).toContain(operator);
    const items = splitTopLevel(body, ',').map((item) => {
      const assignment = /^\s*([A-Za-z_]\w*)\s*=([\s\S]*)$/.exec(item);
      if (assignment) {
        read(assignment[2]);
        return assignment[1];
      }
      read(item);
      return item.trim();
    });
    if (operator === 'extend') items.forEach((name) => available.add(name));
    else {
      output = items;
      available = new Set(items);
    }
  }
  expect(output.length).toBeGreaterThan(0);
  return output;
}

/** Split on a separator outside parentheses, brackets and string literals. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
