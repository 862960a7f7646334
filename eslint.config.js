import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Folder boundaries (docs/architecture.md, "Import rules"): each folder of src/ may import only
 * the folders listed here, so the data flow reads from the imports. Anything not listed is refused.
 */
const SRC_FOLDERS = [
  'common',
  'model',
  'engine',
  'ingest',
  'state',
  'eventhubs',
  'delivery',
  'replay',
  'rule-tools',
  'backtest',
  'report',
  'dev',
  'host',
  'cli',
  'telemetry',
];
export const MAY_IMPORT = {
  common: [],
  model: ['common'],
  // The engine sees events and the state interface, nothing of how they arrive or leave.
  engine: ['common', 'model', 'state/types'],
  ingest: ['common', 'model'],
  state: ['common', 'model'],
  dev: ['common'],
  telemetry: [],
  eventhubs: ['common', 'model', 'ingest'],
  delivery: ['common', 'model', 'state'],
  replay: ['common', 'model', 'engine', 'ingest', 'state', 'eventhubs'],
  'rule-tools': ['common', 'model', 'engine', 'ingest', 'state', 'replay'],
  backtest: ['common', 'model', 'engine', 'ingest', 'eventhubs', 'replay'],
  report: ['common', 'model', 'engine'],
  host: ['common', 'model', 'engine', 'ingest', 'state', 'eventhubs', 'delivery', 'telemetry'],
};

function boundary(folder, allowed) {
  const refused = SRC_FOLDERS.filter((f) => f !== folder && !allowed.some((a) => a === f || a.startsWith(`${f}/`)));
  const partial = allowed.filter((a) => a.includes('/'));
  const group = [
    ...refused.map((f) => `**/${f}/*`),
    // A folder allowed only in part (state/types): refuse the rest of it.
    ...partial.flatMap((a) => [`**/${a.split('/')[0]}/*`, `!**/${a}.js`]),
    '**/functions/*',
  ];
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group,
              message: `src/${folder} may import only ${allowed.length ? allowed.join(', ') : 'no other folder of src'} (docs/architecture.md, "Import rules").`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  // The config file is plain JavaScript outside tsconfig.json: lint it without type information.
  { files: ['eslint.config.js', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...Object.entries(MAY_IMPORT).map(([folder, allowed]) => boundary(folder, allowed)),
  {
    // Callers decide on `userFixable`, never on error names: an error class that skips the base has no flag to decide on.
    files: ['src/**/*.ts'],
    ignores: ['src/common/errors.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ClassDeclaration[superClass.name='Error'], ClassExpression[superClass.name='Error']",
          message: 'Extend WardenError (src/common/errors.ts) and say whether the user can fix it (docs/architecture.md, "Errors").',
        },
      ],
    },
  },
  {
    // A rule file sees the rule API and nothing else: what it may use is what the engine promises to keep.
    files: ['detections/*.ts'],
    ignores: ['detections/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/*', '!**/src/engine', '**/src/engine/*', '!**/src/engine/api.js', '**/src/engine/api.js/**'],
              message: 'A rule imports only the rule API (src/engine/api.js).',
            },
          ],
        },
      ],
    },
  },
  {
    // Test code inspects untyped JSON on purpose (child processes' output, HTTP answers, files read back):
    // typing every answer it probes would restate the contracts under test. The rest of the type-checked rules apply.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    files: ['functions/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/*', '!**/src/host', '**/src/host/*/**', '**/cli/*'], message: 'functions/ is thin: it imports src/host only.' }] },
      ],
    },
  },
);
