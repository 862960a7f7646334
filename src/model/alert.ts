import { z } from 'zod';
import { PRINCIPAL_TYPES } from './event.js';

export const SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** MITRE ATT&CK tactic names as Sentinel spells them. */
export const TACTICS = [
  'Reconnaissance',
  'ResourceDevelopment',
  'InitialAccess',
  'Execution',
  'Persistence',
  'PrivilegeEscalation',
  'DefenseEvasion',
  'CredentialAccess',
  'Discovery',
  'LateralMovement',
  'Collection',
  'CommandAndControl',
  'Exfiltration',
  'Impact',
] as const;
export type Tactic = (typeof TACTICS)[number];

/** A Sentinel entity object (https://learn.microsoft.com/azure/sentinel/entities-reference). */
export const EntitySchema = z
  .object({ Type: z.enum(['account', 'azure-resource', 'ip', 'cloud-application']) })
  .catchall(z.union([z.string(), z.number(), z.boolean()]));
export type Entity = z.infer<typeof EntitySchema>;

const lower = z.string().refine((s) => s === s.toLowerCase(), 'must be lower-case');

/** The Alert contract: the JSONL output row and the Sentinel row (WardenAlerts_CL) are this object. */
export const AlertSchema = z.object({
  TimeGenerated: z.iso.datetime(),
  AlertId: z.string().min(1),
  RuleId: z.string().min(1),
  RuleVersion: z.string().min(1),
  Title: z.string().min(1),
  Description: z.string(),
  Severity: z.enum(SEVERITIES),
  Tactics: z.array(z.enum(TACTICS)),
  Techniques: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/)),
  PrincipalId: z.string(),
  PrincipalType: z.enum(PRINCIPAL_TYPES),
  PrincipalName: z.string().optional(),
  SubscriptionIds: z.array(lower),
  ResourceIds: z.array(lower),
  IpAddresses: z.array(z.string()),
  FirstEventTime: z.iso.datetime(),
  LastEventTime: z.iso.datetime(),
  EventCount: z.number().int().nonnegative(),
  Entities: z.array(EntitySchema),
  Evidence: z.record(z.string(), z.unknown()),
  DetectionLatencyMs: z.number().nonnegative(),
});
export type Alert = z.infer<typeof AlertSchema>;
