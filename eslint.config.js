// ESLint flat config: typescript-eslint's type-aware recommended rules over our TypeScript sources.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      // Store and adapter methods are async by contract even when an implementation needs no await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    // Declarations of third-party modules describe their default exports.
    files: ['**/*.d.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['config/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['server/**/*.ts', 'adapters/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Only config/ reads process.env.' },
      ],
    },
  },
  // Layers (routes -> services -> stores; nothing imports upward). Each zone names what its files may not import.
  {
    files: ['config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/adapters/**', '**/server/**'], message: 'config/ is the lowest layer.' }] },
      ],
    },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/server/**'], message: 'adapters/ implement storage contracts; they never import server/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['server/services/**/*.ts', 'server/pats/**/*.ts', 'server/events/**/*.ts', 'server/jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'koa', message: 'Services know nothing of HTTP.' },
            {
              name: 'oidc-provider',
              message: 'Services do not drive oidc-provider; the composition root injects what they need.',
            },
          ],
          patterns: [
            {
              group: [
                '**/http/**',
                '**/routes/**',
                '**/oidc/**',
                '**/introspection/**',
                '**/compose/**',
                '**/console/**',
              ],
              message: 'Services import neither HTTP, routes nor oidc-provider code (routes -> services -> stores).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/test/**'],
              message: 'bench/ and scripts/ never import test/ (shared helpers live in scripts/lib/).',
            },
          ],
        },
      ],
    },
  },
  {
    // The CLI is a client of the HTTP API: it shares no code with the server.
    files: ['scripts/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/server/**', '**/adapters/**', '**/config/**', '**/test/**'],
              message: 'The CLI knows the server only through its HTTP API.',
            },
          ],
        },
      ],
    },
  },
  // tokenwarden/resource-server is a client of the HTTP API and the standards: no import leaves its folder (it
  // shares no code with server/, adapters/, config/ or test/), and no web framework is loaded unless for types.
  ...[
    ['server/resource-server/*.ts', '^\\.\\./'],
    ['server/resource-server/*/*.ts', '^\\.\\./\\.\\./'],
  ].map(([files, leaves]) => ({
    files: [files],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['express', 'koa', 'fastify'].map((name) => ({
            name,
            allowTypeImports: true,
            message: 'The library loads no web framework: its adapters import theirs for types only.',
          })),
          patterns: [
            { regex: leaves, message: 'tokenwarden/resource-server knows Tokenwarden only through its HTTP API.' },
          ],
        },
      ],
    },
  })),
  {
    // The CLI's launcher is plain JavaScript (it runs before anything is compiled), outside the TypeScript project.
    files: ['scripts/cli/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
