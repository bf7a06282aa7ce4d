import fp from 'fastify-plugin';

/**
 * `Content-Type: application/json` with an empty body is no body, not a 400: clients such as the seed's Python
 * `requests` loop send the header on every call, retries and cancels included (issue #12). A route that needs a
 * body still answers 400 from its schema. Everything else is Fastify's own JSON parser, prototype-poisoning checks included.
 */
export default fp(
  async (app) => {
    const parse = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      void parse(request, text, done);
    });
  },
  { name: 'json-body' },
);
