/**
 * Just enough of ARM template expressions to check Warden's templates offline: a parser for
 * `[fn(args).prop[index]]` strings and an evaluator for the functions the templates use to name
 * and point at resources. Deployment-time values (reference(), parameters without defaults) stay
 * symbolic, so names and ids compare by structure, not by what Azure would return.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ArmResource extends JsonObject {
  type: string;
  apiVersion: string;
  name: string;
}

export interface ArmTemplate extends JsonObject {
  $schema: string;
  contentVersion: string;
  parameters: { [name: string]: JsonObject };
  variables: JsonObject;
  resources: ArmResource[];
  outputs: JsonObject;
}

export function readTemplate(path: string): ArmTemplate {
  const template = JSON.parse(readFileSync(path, 'utf8')) as ArmTemplate;
  template.parameters ??= {};
  template.variables ??= {};
  template.outputs ??= {};
  return template;
}

// ---------------------------------------------------------------- parsing

export type Expr =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'property'; target: Expr; name: string }
  | { kind: 'index'; target: Expr; index: Expr };

/** A template string is an expression when it is wrapped in [ ] (and not escaped as [[). */
export function isExpression(value: string): boolean {
  return value.startsWith('[') && value.endsWith(']') && !value.startsWith('[[');
}

export function parseExpression(source: string): Expr {
  const text = source.slice(1, -1);
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`cannot parse ARM expression ${source}: ${what} at ${at}`);
  };
  const skipSpace = (): void => {
    while (at < text.length && /\s/.test(text[at])) at++;
  };
  const expect = (char: string): void => {
    skipSpace();
    if (text[at] !== char) fail(`expected "${char}"`);
    at++;
  };
  const identifier = (): string => {
    skipSpace();
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at));
    if (!match) return fail('expected a name');
    at += match[0].length;
    return match[0];
  };
  const primary = (): Expr => {
    skipSpace();
    if (text[at] === "'") {
      let value = '';
      at++;
      for (;;) {
        if (at >= text.length) fail('unterminated string');
        if (text[at] === "'") {
          if (text[at + 1] === "'") {
            value += "'";
            at += 2;
            continue;
          }
          at++;
          return { kind: 'string', value };
        }
        value += text[at++];
      }
    }
    const number = /^-?\d+/.exec(text.slice(at));
    if (number) {
      at += number[0].length;
      return { kind: 'number', value: Number(number[0]) };
    }
    const name = identifier();
    expect('(');
    const args: Expr[] = [];
    skipSpace();
    if (text[at] === ')') at++;
    else {
      for (;;) {
        args.push(expression());
        skipSpace();
        if (text[at] === ',') at++;
        else {
          expect(')');
          break;
        }
      }
    }
    return { kind: 'call', name, args };
  };
  const expression = (): Expr => {
    let node = primary();
    for (;;) {
      skipSpace();
      if (text[at] === '.') {
        at++;
        node = { kind: 'property', target: node, name: identifier() };
      } else if (text[at] === '[') {
        at++;
        const index = expression();
        expect(']');
        node = { kind: 'index', target: node, index };
      } else return node;
    }
  };
  const result = expression();
  skipSpace();
  if (at !== text.length) fail('unexpected text');
  return result;
}

/** Every function call in an expression, outermost first. */
export function calls(expr: Expr): Array<Extract<Expr, { kind: 'call' }>> {
  switch (expr.kind) {
    case 'call':
      return [expr, ...expr.args.flatMap(calls)];
    case 'property':
      return calls(expr.target);
    case 'index':
      return [...calls(expr.target), ...calls(expr.index)];
    default:
      return [];
  }
}

/** Every string in a JSON value, with its path, not descending into `skip`ped objects. */
export function strings(value: Json, path = '$', skip?: (obj: JsonObject) => boolean): Array<{ path: string; value: string }> {
  if (typeof value === 'string') return [{ path, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => strings(item, `${path}[${i}]`, skip));
  if (value && typeof value === 'object') {
    if (skip?.(value)) return [];
    return Object.entries(value).flatMap(([key, item]) => strings(item, `${path}.${key}`, skip));
  }
  return [];
}

// ---------------------------------------------------------------- evaluation

/** What reference() returns here: a deployment-time value that stays symbolic through property access. */
export const DEPLOY_TIME = Symbol('deploy-time value');
type Lambda = (...args: Value[]) => Value;
type Value = Json | typeof DEPLOY_TIME | Lambda | Value[] | { [key: string]: Value };

const SUBSCRIPTION_ID = '00000000-0000-0000-0000-000000000001';
const RESOURCE_GROUP = 'warden-rg';

function fakeHash(args: Value[], length: number): string {
  return createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, length);
}

function providerPath(type: string, names: string[]): string {
  const [namespace, ...types] = type.split('/');
  if (types.length !== names.length) {
    throw new Error(`type ${type} has ${types.length} levels but ${names.length} name segments (${names.join('/')})`);
  }
  return `providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join('/')}`;
}

const RG_ID = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${RESOURCE_GROUP}`;

export class Evaluator {
  private readonly variableCache = new Map<string, Value>();
  /** Values of lambdaVariables() inside the lambda being evaluated, innermost last. */
  private readonly lambdaScopes: Array<Record<string, Value>> = [];

  /** `parameters` stand in for what a deployment passes (else each parameter's default). */
  constructor(
    private readonly template: ArmTemplate,
    private readonly parameters: Record<string, Json> = {},
  ) {}

  /** Evaluate a template value: expressions inside strings, recursively through arrays and objects. */
  value(value: Json): Value {
    if (typeof value === 'string') return isExpression(value) ? this.expr(parseExpression(value)) : value;
    if (Array.isArray(value)) return value.map((item) => this.value(item));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.value(item)]));
    }
    return value;
  }

  string(value: Json): string {
    const result = this.value(value);
    if (typeof result !== 'string') throw new Error(`${JSON.stringify(value)} is not a string here`);
    return result;
  }

  /** The full resource id of a resource declared in the template. */
  resourceIdOf(resource: ArmResource): string {
    const names = this.string(resource.name).split('/');
    if (resource.scope !== undefined) return `${this.string(resource.scope)}/${providerPath(resource.type, names)}`;
    return `${RG_ID}/${providerPath(resource.type, names)}`;
  }

  expr(expr: Expr): Value {
    switch (expr.kind) {
      case 'string':
      case 'number':
        return expr.value;
      case 'property': {
        const target = this.expr(expr.target);
        if (typeof target === 'function') throw new Error(`no property ${expr.name} on a lambda`);
        if (target === DEPLOY_TIME) return DEPLOY_TIME;
        if (target && typeof target === 'object' && !Array.isArray(target) && expr.name in target) {
          return (target as Record<string, Value>)[expr.name];
        }
        throw new Error(`no property ${expr.name} on ${JSON.stringify(target)}`);
      }
      case 'index': {
        const target = this.expr(expr.target);
        const index = this.expr(expr.index);
        if (target === DEPLOY_TIME) return DEPLOY_TIME;
        if (Array.isArray(target) && typeof index === 'number') return target[index];
        if (target && typeof target === 'object' && !Array.isArray(target) && typeof index === 'string') return (target as Record<string, Value>)[index];
        throw new Error(`cannot index ${JSON.stringify(target)} with ${JSON.stringify(index)}`);
      }
      case 'call':
        return this.call(expr.name, expr.args);
    }
  }

  private call(name: string, argExprs: Expr[]): Value {
    const args = (): Value[] => argExprs.map((arg) => this.expr(arg));
    const text = (v: Value): string => (v === DEPLOY_TIME ? '<deploy-time>' : typeof v === 'string' ? v : JSON.stringify(v));
    switch (name) {
      case 'parameters': {
        const [paramName] = args() as string[];
        const declared = this.template.parameters[paramName];
        if (!declared) throw new Error(`undeclared parameter ${paramName}`);
        if (paramName in this.parameters) return this.parameters[paramName];
        // A parameter with no default is supplied at deploy time: keep it recognisable.
        return 'defaultValue' in declared ? this.value(declared.defaultValue) : `<${paramName}>`;
      }
      case 'variables': {
        const [variableName] = args() as string[];
        if (!(variableName in this.template.variables)) throw new Error(`undeclared variable ${variableName}`);
        if (!this.variableCache.has(variableName)) {
          this.variableCache.set(variableName, this.value(this.template.variables[variableName]));
        }
        return this.variableCache.get(variableName) as Value;
      }
      case 'format': {
        const [format, ...rest] = args();
        return text(format).replace(/\{(\d+)\}/g, (_, i: string) => text(rest[Number(i)]));
      }
      case 'concat': {
        const values = args();
        return values.every(Array.isArray) ? (values as Value[][]).flat() : values.map(text).join('');
      }
      case 'if': {
        // ARM evaluates only the branch the condition picks (templates rely on it around reference()).
        const condition = this.expr(argExprs[0]);
        if (condition === DEPLOY_TIME) return DEPLOY_TIME;
        return this.expr(argExprs[condition ? 1 : 2]);
      }
      case 'true':
        return true;
      case 'false':
        return false;
      case 'not':
        return !args()[0];
      case 'or':
        return args().some(Boolean);
      case 'and':
        return args().every(Boolean);
      case 'contains': {
        const [container, item] = args();
        if (typeof container === 'string') return container.includes(text(item));
        if (Array.isArray(container)) return container.includes(item as Json);
        return Object.prototype.hasOwnProperty.call(container, text(item));
      }
      case 'first': {
        const [value] = args();
        return typeof value === 'string' ? value.slice(0, 1) : (value as Value[])[0];
      }
      case 'replace': {
        const [value, from, to] = args();
        if (value === DEPLOY_TIME) return DEPLOY_TIME;
        return text(value).split(text(from)).join(text(to));
      }
      case 'split': {
        const [value, separator] = args();
        return value === DEPLOY_TIME ? DEPLOY_TIME : text(value).split(text(separator));
      }
      case 'createArray':
        return args();
      case 'createObject': {
        const values = args();
        const out: Record<string, Value> = {};
        for (let i = 0; i < values.length; i += 2) out[text(values[i])] = values[i + 1];
        return out;
      }
      case 'lambda': {
        const names = argExprs.slice(0, -1).map((a) => text(this.expr(a)));
        const body = argExprs[argExprs.length - 1];
        return (...values: Value[]) => {
          this.lambdaScopes.push(Object.fromEntries(names.map((n, i) => [n, values[i]])));
          try {
            return this.expr(body);
          } finally {
            this.lambdaScopes.pop();
          }
        };
      }
      case 'lambdaVariables': {
        const [name] = args() as string[];
        const scope = [...this.lambdaScopes].reverse().find((s) => name in s);
        if (!scope) throw new Error(`lambdaVariables('${name}') outside its lambda`);
        return scope[name];
      }
      case 'map': {
        const [items, fn] = args() as [Value[], Lambda];
        return items.map((item) => fn(item));
      }
      case 'filter': {
        const [items, fn] = args() as [Value[], Lambda];
        return items.filter((item) => fn(item));
      }
      case 'take': {
        const [value, count] = args();
        return text(value).slice(0, Number(count));
      }
      case 'toLower':
        return text(args()[0]).toLowerCase();
      case 'string':
        return text(args()[0]);
      case 'uniqueString':
        return fakeHash(args(), 13);
      case 'guid': {
        const h = fakeHash(args(), 32);
        return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      }
      case 'resourceGroup':
        return { id: RG_ID, name: RESOURCE_GROUP, location: '<resource-group-location>' };
      case 'resourceId': {
        const [type, ...names] = args() as string[];
        return `${RG_ID}/${providerPath(type, names)}`;
      }
      case 'subscriptionResourceId': {
        const [type, ...names] = args() as string[];
        return `/subscriptions/${SUBSCRIPTION_ID}/${providerPath(type, names)}`;
      }
      case 'extensionResourceId': {
        const [scope, type, ...names] = args() as string[];
        return `${scope}/${providerPath(type, names)}`;
      }
      case 'reference':
        return DEPLOY_TIME;
      default:
        throw new Error(`the offline evaluator does not know ARM function ${name}()`);
    }
  }
}
